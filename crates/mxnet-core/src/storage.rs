//! Byte buffers behind NDArrays, in host or device memory, each with its engine variable.

use std::any::Any;

use mxnet_engine::Var;

use crate::pool;

enum Buffer {
    /// Memory from the CPU buffer pool, 64-byte aligned.
    Pooled { ptr: *mut u8, capacity: usize },
    /// Memory owned by someone else (a numpy array, a DLPack producer), kept alive by `owner`.
    Foreign {
        ptr: *mut u8,
        /// Never read: holding it keeps the foreign memory alive.
        #[allow(dead_code)]
        owner: Box<dyn Any + Send + Sync>,
    },
    /// Memory of a GPU, from that device's buffer pool.
    Device(mxnet_gpu::Buffer),
}

/// A contiguous byte buffer shared by an array and its views.
///
/// Concurrency contract: the buffer is read and written through raw pointers from engine
/// operations. The engine orders every write to this storage's `var` after all earlier reads and
/// writes, and no read runs concurrently with a write, so no two threads ever hold a mutable and
/// another reference to the same bytes at once. Code outside engine operations must wait on the
/// variable (`NDArray::wait_to_read` / `wait_to_write`) before touching the bytes.
pub struct Storage {
    buffer: Buffer,
    nbytes: usize,
    var: Var,
}

// SAFETY: see the concurrency contract above; foreign owners are `Send + Sync` by type.
unsafe impl Send for Storage {}
unsafe impl Sync for Storage {}

impl Storage {
    /// Allocate `nbytes` zero-filled bytes, aligned to 64, from the buffer pool; `None` when
    /// the system is out of memory.
    pub fn zeroed(nbytes: usize) -> Option<Storage> {
        Self::pooled(nbytes, true)
    }

    /// Allocate `nbytes` for a kernel that writes every byte before anything reads them. The
    /// contents are unspecified: zeros, or the data of an array whose buffer was released.
    pub fn for_overwrite(nbytes: usize) -> Option<Storage> {
        Self::pooled(nbytes, false)
    }

    fn pooled(nbytes: usize, zeroed: bool) -> Option<Storage> {
        let (ptr, capacity) = pool::allocate(nbytes, zeroed)?;
        Some(Storage { buffer: Buffer::Pooled { ptr, capacity }, nbytes, var: Var::new() })
    }

    /// Allocate `nbytes` on a GPU; zero-filled when `zeroed` (the fill is recorded on the device
    /// before any later command).
    pub fn on_device(device: &std::sync::Arc<mxnet_gpu::Device>, nbytes: usize, zeroed: bool) -> mxnet_gpu::Result<Storage> {
        let buffer = mxnet_gpu::Buffer::allocate(device, nbytes as u64)?;
        if zeroed {
            device.clear(buffer.raw(), nbytes as u64);
        } else if crate::pool::poison_enabled() {
            device.upload(buffer.raw(), &vec![0xFF; nbytes]);
        }
        Ok(Storage { buffer: Buffer::Device(buffer), nbytes, var: Var::new() })
    }

    /// The device buffer of GPU storage; `None` for host memory.
    pub fn device_buffer(&self) -> Option<&mxnet_gpu::Buffer> {
        match &self.buffer {
            Buffer::Device(b) => Some(b),
            _ => None,
        }
    }

    /// Wrap foreign memory.
    ///
    /// # Safety
    /// `ptr` must stay valid for reads and writes of `nbytes` bytes for as long as `owner` lives,
    /// and no other code may write it while this storage is in use.
    pub unsafe fn from_foreign(ptr: *mut u8, nbytes: usize, owner: Box<dyn Any + Send + Sync>) -> Storage {
        Storage { buffer: Buffer::Foreign { ptr, owner }, nbytes, var: Var::new() }
    }

    pub fn nbytes(&self) -> usize {
        self.nbytes
    }

    pub fn var(&self) -> &Var {
        &self.var
    }

    /// Return whether the bytes belong to another library (numpy, DLPack).
    pub fn is_foreign(&self) -> bool {
        matches!(self.buffer, Buffer::Foreign { .. })
    }

    /// The host address of the bytes.
    ///
    /// # Panics
    /// For GPU storage, which has no host address: callers check the context first, and a
    /// panic inside an engine operation becomes an error.
    pub fn as_ptr(&self) -> *mut u8 {
        match &self.buffer {
            Buffer::Pooled { ptr, .. } => *ptr,
            Buffer::Foreign { ptr, owner: _ } => *ptr,
            Buffer::Device(b) => panic!("internal error: host access to GPU memory ({b:?}); copy it to the CPU first"),
        }
    }

    /// View the bytes as a slice of `T`.
    ///
    /// # Safety
    /// The caller must be inside an engine operation that reads this storage's variable (or have
    /// waited for it), and `T` must be the element type the bytes were written as.
    pub unsafe fn slice<T: bytemuck::Pod>(&self) -> &[T] {
        let len = self.nbytes / std::mem::size_of::<T>();
        if len == 0 {
            return &[];
        }
        std::slice::from_raw_parts(self.as_ptr() as *const T, len)
    }

    /// View the bytes as a mutable slice of `T`.
    ///
    /// # Safety
    /// The caller must be inside an engine operation that writes this storage's variable, so no
    /// other reference to these bytes exists while the slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut<T: bytemuck::Pod>(&self) -> &mut [T] {
        let len = self.nbytes / std::mem::size_of::<T>();
        if len == 0 {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(self.as_ptr() as *mut T, len)
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Buffer::Pooled { ptr, capacity } = self.buffer {
            // SAFETY: the pointer and capacity came from `pool::allocate`, and this storage
            // was its only owner; the last engine operation using it has completed because
            // every pending operation keeps an `Arc` to the storage.
            unsafe { pool::release(ptr, capacity) };
        }
    }
}
