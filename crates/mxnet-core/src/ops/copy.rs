//! Copies and casts: `_copy` (`identity`), `Cast` (`cast`), and the copy kernel used by
//! `copyto` and slice assignment.

use std::sync::Arc;

use mxnet_cpu::strided::{gather, gather_into, scatter, unary_map};

use crate::attrs::{AttrReader, Attrs};
use crate::dtype::{convert, DType};
use crate::error::Result;
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::dispatch_all;

/// Zero the contiguous array `out`, on its device, for operator `op`'s kernel. New outputs come
/// zeroed already, but an `out=` array keeps its old values.
pub(crate) fn fill_zeros(op: &str, out: &NDArray) -> Result<()> {
    if out.context().is_gpu() {
        let zero = format!("{}(0)", crate::gpu::elem(op, out.dtype())?.wgsl());
        return crate::gpu::map(op, &zero, &[], &[], out);
    }
    // SAFETY: called inside the engine operation that writes `out`.
    unsafe {
        dispatch_all!(out.dtype(), T => out.out_data::<T>().fill(T::default()));
    }
    Ok(())
}

/// Copy `src` into the view `dst`, converting the dtype when they differ.
///
/// Reads the whole source before writing, so overlapping views of one storage copy correctly.
pub(crate) fn copy_kernel(src: &NDArray, dst: &NDArray) -> Result<()> {
    if src.context().is_gpu() || dst.context().is_gpu() {
        if src.dtype() == dst.dtype() {
            return crate::gpu::copy(src, dst);
        }
        if src.context() == dst.context() {
            return crate::gpu::cast(src, dst);
        }
        return Err(crate::mxerr!(
            "copyto: converting {} on {} to {} on {} is not supported; cast first (x.astype('{}')), then copy",
            src.dtype(),
            src.context(),
            dst.dtype(),
            dst.context(),
            dst.dtype()
        ));
    }
    if src.size() == 0 {
        // Nothing to copy, and an empty view's offset may lie past the end of its storage.
        return Ok(());
    }
    // SAFETY: runs inside an engine operation that reads `src` and writes `dst`.
    unsafe {
        if src.dtype() == dst.dtype() && dst.is_contiguous() && src.layout().strides.iter().all(|&s| s == 0) {
            // One value broadcast over the destination (`x[:] = 0`): a fill.
            dispatch_all!(dst.dtype(), D => {
                let value = src.data::<D>()[src.layout().offset];
                mxnet_cpu::parallel::fill(dst.out_data::<D>(), value);
            });
            return Ok(());
        }
        if src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous() {
            let width = src.dtype().size();
            let from = src.storage().as_ptr().add(src.layout().offset * width);
            let to = dst.storage().as_ptr().add(dst.layout().offset * width);
            let bytes = src.size() * width;
            if src.may_share_memory(dst) {
                // One memmove, which is right when the two views overlap.
                std::ptr::copy(from, to, bytes);
            } else {
                // Separate memory: the pieces can go to different threads.
                mxnet_cpu::parallel::copy(std::slice::from_raw_parts(from, bytes), std::slice::from_raw_parts_mut(to, bytes));
            }
            return Ok(());
        }
        // Views of separate memory copy straight into the destination, without the
        // intermediate vector.
        if !src.may_share_memory(dst) && dst.is_contiguous() {
            dispatch_all!(dst.dtype(), D => {
                let out = dst.out_data::<D>();
                if src.dtype() == dst.dtype() {
                    gather_into(src.data::<D>(), src.layout(), out);
                } else {
                    dispatch_all!(src.dtype(), S => {
                        unary_map(src.data::<S>(), src.layout(), out, convert::<S, D>);
                    });
                }
            });
            return Ok(());
        }
        if !src.may_share_memory(dst) && src.is_contiguous() && src.dtype() == dst.dtype() {
            // Concat and stack write contiguous inputs into windows of their output.
            dispatch_all!(dst.dtype(), D => {
                let start = src.layout().offset;
                scatter(&src.data::<D>()[start..start + src.size()], dst.data_mut::<D>(), dst.layout());
            });
            return Ok(());
        }
        dispatch_all!(dst.dtype(), D => {
            let values: Vec<D> = if src.dtype() == dst.dtype() {
                gather(src.data::<D>(), src.layout())
            } else {
                dispatch_all!(src.dtype(), S => {
                    let mut v = vec![D::default(); src.size()];
                    unary_map(src.data::<S>(), src.layout(), &mut v, convert::<S, D>);
                    v
                })
            };
            scatter(&values, dst.data_mut::<D>(), dst.layout());
        });
    }
    Ok(())
}

/// `Cast`: convert to `dtype`; also `_copy` when `dtype` is `None`.
pub struct Cast {
    name: &'static str,
    dtype: Option<DType>,
}

impl Operator for Cast {
    fn computes_half(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        Ok(vec![TensorDesc::new(x.shape.clone(), self.dtype.unwrap_or(x.dtype))])
    }

    fn inplace_safe(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        copy_kernel(&inputs[0], &outputs[0])
    }

    super::gpu_through_copies!();

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let x = &g.inputs[0];
        let dy = &g.out_grads[0];
        if dy.dtype() == x.dtype() {
            return Ok(vec![Some(dy.clone())]);
        }
        Ok(vec![Some(call1("Cast", &[dy], &[("dtype", x.dtype().name().to_string())])?)])
    }

    fn attrs(&self) -> Attrs {
        match self.dtype {
            Some(d) => vec![("dtype".into(), d.name().into())],
            None => Attrs::new(),
        }
    }
}

/// `_copyto`: a copy to another context, recorded by autograd so gradients flow back to the
/// source's context (MXNet records the same operator for `copyto` and `as_in_context`).
pub struct CopyTo {
    ctx: crate::Context,
}

impl Operator for CopyTo {
    fn computes_half(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "_copyto"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        Ok(vec![inputs[0].clone()])
    }

    fn output_context(&self) -> Option<crate::Context> {
        Some(self.ctx)
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        copy_kernel(&inputs[0], &outputs[0])
    }

    super::gpu_through_copies!();

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let back = g.inputs[0].context().to_string();
        Ok(vec![Some(call1("_copyto", &[&g.out_grads[0]], &[("ctx", back)])?)])
    }

    fn attrs(&self) -> Attrs {
        vec![("ctx".into(), self.ctx.to_string())]
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "_copyto",
        aliases: &[],
        arguments: &["data"],
        params: &["ctx"],
        doc: "Copy the array to another context (cpu(i) or gpu(i)).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_copyto", attrs);
            let ctx = r.required::<crate::Context>("ctx")?;
            r.finish(&["ctx"])?;
            Ok(Arc::new(CopyTo { ctx }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "Cast",
        aliases: &["cast"],
        arguments: &["data"],
        params: &["dtype"],
        doc: "Convert the elements to another dtype.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("Cast", attrs);
            let dtype = r.required::<DType>("dtype")?;
            r.finish(&["dtype"])?;
            Ok(Arc::new(Cast { name: "Cast", dtype: Some(dtype) }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_copy",
        aliases: &["identity"],
        arguments: &["data"],
        params: &[],
        doc: "Copy the array into new storage.",
        create: |attrs: &Attrs| {
            AttrReader::new("_copy", attrs).finish(&[])?;
            Ok(Arc::new(Cast { name: "_copy", dtype: None }) as Arc<dyn Operator>)
        },
    });
}
