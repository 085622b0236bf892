//! NDArray: a strided view (shape, strides, offset) of shared storage with a runtime dtype.

use std::sync::Arc;

use mxnet_cpu::Layout;
use mxnet_engine::Var;

use crate::autograd::AgEntry;
use crate::context::Context;
use crate::dtype::{DType, Element};
use crate::error::{from_engine, Error, Result};
use crate::storage::Storage;

/// An n-dimensional array. Cloning is cheap and shares the storage; views made by reshape,
/// slicing, transpose and broadcast share it too.
#[derive(Clone)]
pub struct NDArray {
    storage: Arc<Storage>,
    /// Shared, because views, `detach` and every operation's captured inputs clone arrays,
    /// and copying the shape and strides cost two allocations per clone.
    layout: Arc<Layout>,
    dtype: DType,
    ctx: Context,
    /// Autograd entry: a leaf with a gradient buffer, or the recorded op that produced it.
    pub(crate) ag: Option<AgEntry>,
}

impl std::fmt::Debug for NDArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NDArray({:?}, {}, {})", self.layout.shape, self.dtype, self.ctx)
    }
}

/// Validate a shape given as signed integers, naming `op` in the error.
pub fn check_shape(op: &str, shape: &[i64]) -> Result<Vec<usize>> {
    shape
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| {
                Error::Value(format!("{op}: invalid shape {shape:?}: dimensions must be non-negative"))
            })
        })
        .collect()
}

/// Multiply two sizes of an output shape, or fail with an error naming `op` where the product
/// exceeds `isize::MAX`, the largest size of any array in bytes (a larger view would make
/// reductions loop for centuries).
pub fn checked_size(op: &str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).filter(|&n| n <= isize::MAX as usize).ok_or_else(|| {
        Error::Value(format!("{op}: the output would have {a} x {b} elements, more than any array can hold; use smaller sizes"))
    })
}

impl NDArray {
    /// Create a zero-filled row-major array.
    pub fn zeros(shape: &[usize], dtype: DType, ctx: Context) -> Result<NDArray> {
        Self::allocate(shape, dtype, ctx, true)
    }

    /// Create a row-major array whose contents are unspecified, for an operator that writes
    /// every element before anything reads them ([`crate::Operator::overwrites_outputs`]).
    pub fn for_overwrite(shape: &[usize], dtype: DType, ctx: Context) -> Result<NDArray> {
        Self::allocate(shape, dtype, ctx, false)
    }

    /// Like [`NDArray::for_overwrite`], sharing the layout of an array of `like` that is
    /// row-major from offset 0 with this shape. An elementwise result then allocates no layout,
    /// three of the allocations of a small `a + b`.
    pub fn for_overwrite_like(shape: &[usize], dtype: DType, ctx: Context, like: &[NDArray]) -> Result<NDArray> {
        match like.iter().find(|x| x.layout.offset == 0 && x.shape() == shape && x.layout.is_contiguous()) {
            Some(x) => Ok(NDArray { storage: Self::allocate_storage(shape, dtype, ctx, false)?, layout: x.layout.clone(), dtype, ctx, ag: None }),
            None => Self::for_overwrite(shape, dtype, ctx),
        }
    }

    fn allocate(shape: &[usize], dtype: DType, ctx: Context, zeroed: bool) -> Result<NDArray> {
        Ok(NDArray::from_storage(Self::allocate_storage(shape, dtype, ctx, zeroed)?, Layout::contiguous(shape), dtype, ctx))
    }

    /// Allocate the buffer of a row-major array.
    fn allocate_storage(shape: &[usize], dtype: DType, ctx: Context, zeroed: bool) -> Result<Arc<Storage>> {
        let size = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let nbytes = size.and_then(|s| s.checked_mul(dtype.size())).ok_or_else(|| {
            Error::Value(format!("cannot allocate an array of shape {shape:?} and dtype {dtype}: size overflows"))
        })?;
        if ctx.is_gpu() {
            crate::gpu::check_dtype(dtype, ctx)?;
            let device = crate::gpu::device(ctx)?;
            return Ok(Arc::new(Storage::on_device(&device, nbytes, zeroed)?));
        }
        let storage = if zeroed { Storage::zeroed(nbytes) } else { Storage::for_overwrite(nbytes) };
        let storage = storage.ok_or_else(|| {
            Error::MXNet(format!(
                "out of memory: cannot allocate {nbytes} bytes for an array of shape {shape:?} and dtype {dtype}; \
                 use smaller arrays or batches"
            ))
        })?;
        Ok(Arc::new(storage))
    }

    /// Create an array from `data` in row-major order.
    pub fn from_vec<T: Element>(shape: &[usize], data: Vec<T>) -> Result<NDArray> {
        let size: usize = shape.iter().product();
        if size != data.len() {
            return Err(Error::Value(format!(
                "array: {} values do not fill shape {:?} ({} elements)",
                data.len(),
                shape,
                size
            )));
        }
        let arr = NDArray::zeros(shape, T::DTYPE, Context::cpu())?;
        // SAFETY: the array was just created and is not yet visible to the engine or anyone else.
        unsafe { arr.storage.slice_mut::<T>()[..size].copy_from_slice(&data) };
        Ok(arr)
    }

    /// Create a host array of `dtype` from its row-major bytes.
    pub fn from_bytes(shape: &[usize], dtype: DType, bytes: &[u8]) -> Result<NDArray> {
        let arr = NDArray::for_overwrite(shape, dtype, Context::cpu())?;
        let n = arr.size() * dtype.size();
        if bytes.len() < n {
            return Err(Error::Value(format!("from_bytes: {} bytes do not fill shape {shape:?} of {dtype}", bytes.len())));
        }
        // SAFETY: the array was just created and is not yet visible to the engine or anyone else.
        unsafe { arr.storage.slice_mut::<u8>()[..n].copy_from_slice(&bytes[..n]) };
        Ok(arr)
    }

    /// Copy the array to `ctx` (an engine operation; returns at once). CPU contexts share host
    /// memory, so between them only the tag changes.
    pub fn to_context(&self, ctx: Context) -> Result<NDArray> {
        if !self.ctx.is_gpu() && !ctx.is_gpu() {
            return self.with_context(ctx);
        }
        let out = NDArray::for_overwrite(self.shape(), self.dtype, ctx)?;
        crate::imperative::copy_into(self, &out)?;
        Ok(out)
    }

    /// Wrap existing storage.
    pub fn from_storage(storage: Arc<Storage>, layout: Layout, dtype: DType, ctx: Context) -> NDArray {
        NDArray { storage, layout: Arc::new(layout), dtype, ctx, ag: None }
    }

    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }

    pub fn ndim(&self) -> usize {
        self.layout.ndim()
    }

    pub fn size(&self) -> usize {
        self.layout.size()
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn context(&self) -> Context {
        self.ctx
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Return the engine variable that orders every read and write of this array's storage.
    pub fn var(&self) -> &Var {
        self.storage.var()
    }

    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// Return whether two arrays share storage.
    pub fn shares_storage(&self, other: &NDArray) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// Return whether the memory of two CPU arrays may overlap: one storage, or two storages
    /// over one foreign buffer (two zero-copy wrappers of one numpy array).
    pub fn may_share_memory(&self, other: &NDArray) -> bool {
        if self.shares_storage(other) {
            return true;
        }
        let (a, b) = (self.storage.as_ptr() as usize, other.storage.as_ptr() as usize);
        a < b + other.storage.nbytes() && b < a + self.storage.nbytes()
    }

    /// Make a view with another layout over the same storage and no autograd history.
    pub fn with_layout(&self, layout: Layout) -> NDArray {
        NDArray { storage: self.storage.clone(), layout: Arc::new(layout), dtype: self.dtype, ctx: self.ctx, ag: None }
    }

    /// Return the same array tagged with another CPU context. All CPU contexts share host
    /// memory, so only the tag changes. Other device kinds are rejected.
    pub fn with_context(&self, ctx: Context) -> Result<NDArray> {
        match (self.ctx, ctx) {
            (Context::Cpu(_), Context::Cpu(_)) => Ok(NDArray { ctx, ..self.clone() }),
            (from, to) => Err(Error::MXNet(format!("internal error: retagging an array from {from} to {to}; copy it with to_context"))),
        }
    }

    /// Return the same array without autograd history (`detach()`).
    pub fn detach(&self) -> NDArray {
        NDArray { storage: self.storage.clone(), layout: self.layout.clone(), dtype: self.dtype, ctx: self.ctx, ag: None }
    }

    /// Report whether a wait for this array would return at once: a CPU array with no
    /// operation running or queued on it.
    pub fn is_ready(&self) -> bool {
        !self.ctx.is_gpu() && self.var().is_idle()
    }

    /// Block until pending writes finish; raise the error of a failed write once. On a GPU,
    /// also wait until the device has run the recorded commands.
    pub fn wait_to_read(&self) -> Result<()> {
        crate::engine().wait_for_var(self.var()).map_err(from_engine)?;
        crate::gpu::synchronize(self.ctx)
    }

    /// Block until pending reads and writes finish.
    pub fn wait_to_write(&self) -> Result<()> {
        // Reads do not change the variable; a no-op write orders us after all of them.
        crate::engine().push(Box::new(|| Ok(())), &[], &[self.var().clone()]).map_err(from_engine)?;
        self.wait_to_read()
    }

    /// The elements in row-major order as `T` (the dtype must match). Waits for pending writes.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(Error::Type(format!("to_vec: array has dtype {}, requested {}", self.dtype, T::DTYPE)));
        }
        if self.ctx.is_gpu() {
            return self.to_context(Context::cpu())?.to_vec();
        }
        self.wait_to_read()?;
        // SAFETY: we waited for all pending writes; the dtype matches.
        let data = unsafe { self.storage.slice::<T>() };
        Ok(mxnet_cpu::strided::gather(data, &self.layout))
    }

    /// Elements as `T` for reading inside an engine operation that reads this array.
    ///
    /// # Safety
    /// Call only from an engine operation that lists this array's variable as read or written.
    pub unsafe fn data<T: Element>(&self) -> &[T] {
        debug_assert_eq!(T::DTYPE, self.dtype);
        self.storage.slice::<T>()
    }

    /// Elements as `T` for writing inside an engine operation that writes this array.
    ///
    /// # Safety
    /// Call only from an engine operation that lists this array's variable as written.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn data_mut<T: Element>(&self) -> &mut [T] {
        debug_assert_eq!(T::DTYPE, self.dtype);
        self.storage.slice_mut::<T>()
    }

    /// Read the row-major elements of this array inside an engine operation: borrowed when the view
    /// is contiguous, gathered into a new vector otherwise.
    ///
    /// # Safety
    /// Same as [`NDArray::data`].
    pub unsafe fn contiguous_data<T: Element>(&self) -> std::borrow::Cow<'_, [T]> {
        let data = self.data::<T>();
        if self.layout.is_contiguous() {
            let start = self.layout.offset;
            std::borrow::Cow::Borrowed(&data[start..start + self.size()])
        } else {
            std::borrow::Cow::Owned(mxnet_cpu::strided::gather(data, &self.layout))
        }
    }

    /// Borrow the writable row-major elements of a contiguous output inside an engine operation.
    ///
    /// # Safety
    /// Same as [`NDArray::data_mut`]; the array must be contiguous.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn out_data<T: Element>(&self) -> &mut [T] {
        debug_assert!(self.layout.is_contiguous());
        let start = self.layout.offset;
        let n = self.size();
        &mut self.data_mut::<T>()[start..start + n]
    }

    /// Autograd: whether this array is a leaf with an attached gradient or a recorded output.
    pub fn autograd_entry(&self) -> Option<&AgEntry> {
        self.ag.as_ref()
    }

    pub fn set_autograd_entry(&mut self, entry: Option<AgEntry>) {
        self.ag = entry;
    }
}
