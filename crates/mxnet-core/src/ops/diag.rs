//! Diagonals. `diag` reads the `k`-th diagonal of two axes as a strided view (numpy's
//! `diagonal`), or builds a square matrix from a vector (numpy's `diag`). `_backward_diag`
//! writes a diagonal into zeros. Each direction is the other's gradient.

use std::sync::Arc;

use mxnet_cpu::Layout;

use super::copy::{copy_kernel, fill_zeros};
use super::view::axis_index;
use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::error::{Error, Result};
use crate::imperative::call1_with;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

/// The `k`-th diagonal of axes `axis1` and `axis2` (negative axes count from the end).
#[derive(Clone, Copy, Debug)]
struct Diagonal {
    k: i64,
    axis1: i64,
    axis2: i64,
}

impl Diagonal {
    /// Map a layout to its diagonal: both axes removed, the diagonal appended as the last axis.
    fn of(&self, op: &str, layout: &Layout) -> Result<Layout> {
        let ndim = layout.ndim();
        let (a1, a2) = (axis_index(op, self.axis1, ndim)?, axis_index(op, self.axis2, ndim)?);
        if a1 == a2 {
            return Err(Error::Value(format!(
                "{op}: axis1 and axis2 both refer to axis {a1}; pass two different axes"
            )));
        }
        let (d1, d2) = (layout.shape[a1] as i64, layout.shape[a2] as i64);
        let (s1, s2) = (layout.strides[a1], layout.strides[a2]);
        // The first element is (0, k) above the main diagonal and (-k, 0) below it.
        let (start1, start2) = if self.k >= 0 { (0, self.k) } else { (-self.k, 0) };
        let len = (d1 - start1).min(d2 - start2).max(0) as usize;
        let mut shape = Vec::with_capacity(ndim - 1);
        let mut strides = Vec::with_capacity(ndim - 1);
        for axis in (0..ndim).filter(|&a| a != a1 && a != a2) {
            shape.push(layout.shape[axis]);
            strides.push(layout.strides[axis]);
        }
        shape.push(len);
        strides.push(s1 + s2);
        // An empty diagonal keeps the offset, which would otherwise point past the axes.
        let offset = if len == 0 { layout.offset } else { (layout.offset as isize + start1 as isize * s1 + start2 as isize * s2) as usize };
        Ok(Layout { shape, strides, offset })
    }

    fn attrs(&self) -> Attrs {
        vec![("k".into(), self.k.to_string()), ("axis1".into(), self.axis1.to_string()), ("axis2".into(), self.axis2.to_string())]
    }

    fn parse<'a>(op: &'static str, attrs: &'a Attrs) -> Result<(Diagonal, AttrReader<'a>)> {
        let mut r = AttrReader::new(op, attrs);
        let diagonal = Diagonal { k: r.get("k", 0)?, axis1: r.get("axis1", 0)?, axis2: r.get("axis2", 1)? };
        Ok((diagonal, r))
    }

    /// Write `values` on this diagonal of `out` after zeroing it.
    fn scatter(&self, op: &str, values: &NDArray, out: &NDArray) -> Result<()> {
        fill_zeros(op, out)?;
        let region = self.of(op, out.layout())?;
        if region.shape != values.shape() {
            return Err(Error::Value(format!(
                "{op}: values of shape {:?} do not fit the diagonal of shape {:?}",
                values.shape(),
                region.shape
            )));
        }
        copy_kernel(values, &out.with_layout(region))
    }
}

/// `diag(data, k, axis1, axis2)`: the diagonal of an array of two or more axes, or the square
/// matrix with a vector on its `k`-th diagonal.
pub struct Diag(Diagonal);

impl Diag {
    /// Return the diagonal of the square output that a vector input is written to.
    fn of_matrix(&self) -> Diagonal {
        Diagonal { k: self.0.k, axis1: 0, axis2: 1 }
    }
}

impl Operator for Diag {
    fn computes_half(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "diag"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        let shape = match x.shape.len() {
            0 => return Err(Error::Value("diag: the input is 0-d; pass a vector or an array of two or more axes".into())),
            1 => {
                let n = x.shape[0] + self.0.k.unsigned_abs() as usize;
                vec![n, n]
            }
            _ => self.0.of("diag", &Layout::contiguous(&x.shape))?.shape,
        };
        Ok(vec![TensorDesc::new(shape, x.dtype)])
    }

    fn view(&self, input: &NDArray) -> Option<Layout> {
        (input.ndim() >= 2).then(|| self.0.of("diag", input.layout()).ok()).flatten()
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        if x.ndim() == 1 {
            return self.of_matrix().scatter("diag", x, out);
        }
        copy_kernel(&x.with_layout(self.0.of("diag", x.layout())?), out)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let (x, dy) = (&g.inputs[0], &g.out_grads[0]);
        let dx = if x.ndim() == 1 {
            call1_with("diag", &[dy], &self.of_matrix().attrs())?
        } else {
            let mut attrs = self.0.attrs();
            attrs.push(("shape".into(), tuple_string(x.shape())));
            call1_with("_backward_diag", &[dy], &attrs)?
        };
        Ok(vec![Some(dx)])
    }

    fn attrs(&self) -> Attrs {
        self.0.attrs()
    }
}

/// `_backward_diag(data, k, axis1, axis2, shape)`: zeros of `shape` with `data` on the diagonal
/// that `diag` reads.
pub struct DiagBackward {
    diagonal: Diagonal,
    shape: Vec<usize>,
}

impl Operator for DiagBackward {
    fn computes_half(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "_backward_diag"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let region = self.diagonal.of("_backward_diag", &Layout::contiguous(&self.shape))?;
        if region.shape != inputs[0].shape {
            return Err(Error::Value(format!(
                "_backward_diag: gradient of shape {:?} does not match the diagonal shape {:?}",
                inputs[0].shape, region.shape
            )));
        }
        Ok(vec![TensorDesc::new(self.shape.clone(), inputs[0].dtype)])
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        self.diagonal.scatter("_backward_diag", &inputs[0], &outputs[0])
    }

    /// Read the diagonal back out, for second-order gradients.
    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(call1_with("diag", &[&g.out_grads[0]], &self.diagonal.attrs())?)])
    }

    fn attrs(&self) -> Attrs {
        let mut attrs = self.diagonal.attrs();
        attrs.push(("shape".into(), tuple_string(&self.shape)));
        attrs
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "diag",
        aliases: &[],
        arguments: &["data"],
        params: &["k", "axis1", "axis2"],
        doc: "The k-th diagonal of axes axis1 and axis2 (numpy.diagonal, the diagonal last), or for \
              a vector the square matrix with the vector on its k-th diagonal (numpy.diag).",
        create: |attrs: &Attrs| {
            let (diagonal, r) = Diagonal::parse("diag", attrs)?;
            r.finish(&["k", "axis1", "axis2"])?;
            Ok(Arc::new(Diag(diagonal)) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_backward_diag",
        aliases: &[],
        arguments: &["data"],
        params: &["k", "axis1", "axis2", "shape"],
        doc: "Zeros of `shape` with the input on the diagonal that diag reads (its gradient).",
        create: |attrs: &Attrs| {
            let (diagonal, mut r) = Diagonal::parse("_backward_diag", attrs)?;
            let shape = r.required::<Vec<usize>>("shape")?;
            r.finish(&["k", "axis1", "axis2", "shape"])?;
            Ok(Arc::new(DiagBackward { diagonal, shape }) as Arc<dyn Operator>)
        },
    });
}
