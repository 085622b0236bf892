//! Operators that move, add, remove or reverse axes: `transpose`, `SwapAxis`, `expand_dims`,
//! `squeeze`, `Flatten` and `flip` are views; `tile` and `repeat` copy through a broadcast view.

use std::sync::Arc;

use mxnet_cpu::Layout;

use super::view::{axis_index, ViewMap, ViewOp};
use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::{checked_size, NDArray};
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

/// `Reshape` of `x` to an exact shape (a view when `x` is contiguous).
pub(crate) fn reshape_to(x: &NDArray, shape: &[usize]) -> Result<NDArray> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    call1("Reshape", &[x], &[("shape", tuple_string(shape))])
}

pub struct Transpose {
    axes: Vec<i64>,
}

impl Transpose {
    fn permutation(&self, ndim: usize) -> Result<Vec<usize>> {
        if self.axes.is_empty() {
            return Ok((0..ndim).rev().collect());
        }
        if self.axes.len() != ndim {
            return Err(Error::Value(format!(
                "transpose: axes {:?} has {} entries but the array has {ndim} dimensions; give one entry per axis",
                self.axes,
                self.axes.len()
            )));
        }
        let mut perm = Vec::with_capacity(ndim);
        let mut seen = vec![false; ndim];
        for &a in &self.axes {
            let a = axis_index("transpose", a, ndim)?;
            if seen[a] {
                return Err(Error::Value(format!(
                    "transpose: axes {:?} repeats axis {a}; axes must be a permutation of 0..{ndim}",
                    self.axes
                )));
            }
            seen[a] = true;
            perm.push(a);
        }
        Ok(perm)
    }
}

impl ViewMap for Transpose {
    fn name(&self) -> &'static str {
        "transpose"
    }

    fn map(&self, input: &Layout) -> Result<Layout> {
        Ok(input.permute(&self.permutation(input.ndim())?))
    }

    fn grad(&self, x: &NDArray, dy: &NDArray) -> Result<NDArray> {
        let perm = self.permutation(x.ndim())?;
        let mut inverse = vec![0usize; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        call1("transpose", &[dy], &[("axes", tuple_string(&inverse))])
    }

    fn attrs(&self) -> Attrs {
        vec![("axes".into(), tuple_string(&self.axes))]
    }
}

pub struct SwapAxis {
    dim1: i64,
    dim2: i64,
}

impl ViewMap for SwapAxis {
    fn name(&self) -> &'static str {
        "SwapAxis"
    }

    fn map(&self, input: &Layout) -> Result<Layout> {
        let a = axis_index("SwapAxis", self.dim1, input.ndim())?;
        let b = axis_index("SwapAxis", self.dim2, input.ndim())?;
        let mut perm: Vec<usize> = (0..input.ndim()).collect();
        perm.swap(a, b);
        Ok(input.permute(&perm))
    }

    fn grad(&self, _x: &NDArray, dy: &NDArray) -> Result<NDArray> {
        call1("SwapAxis", &[dy], &[("dim1", self.dim1.to_string()), ("dim2", self.dim2.to_string())])
    }

    fn attrs(&self) -> Attrs {
        vec![("dim1".into(), self.dim1.to_string()), ("dim2".into(), self.dim2.to_string())]
    }
}

pub struct ExpandDims {
    axis: i64,
}

impl ViewMap for ExpandDims {
    fn name(&self) -> &'static str {
        "expand_dims"
    }

    fn map(&self, input: &Layout) -> Result<Layout> {
        // The new axis may go anywhere from before the first to after the last dimension.
        let axis = axis_index("expand_dims", self.axis, input.ndim() + 1)?;
        let mut layout = input.clone();
        layout.shape.insert(axis, 1);
        layout.strides.insert(axis, 0);
        Ok(layout)
    }

    fn grad(&self, x: &NDArray, dy: &NDArray) -> Result<NDArray> {
        reshape_to(dy, x.shape())
    }

    fn attrs(&self) -> Attrs {
        vec![("axis".into(), self.axis.to_string())]
    }
}

pub struct Squeeze {
    axis: Option<Vec<i64>>,
}

impl ViewMap for Squeeze {
    fn name(&self) -> &'static str {
        "squeeze"
    }

    fn map(&self, input: &Layout) -> Result<Layout> {
        let ndim = input.ndim();
        let mut drop = vec![false; ndim];
        match &self.axis {
            None => {
                for (d, flag) in input.shape.iter().zip(drop.iter_mut()) {
                    *flag = *d == 1;
                }
            }
            Some(axes) => {
                for &a in axes {
                    let a = axis_index("squeeze", a, ndim)?;
                    if input.shape[a] != 1 {
                        return Err(Error::Value(format!(
                            "squeeze: cannot remove axis {a} of shape {:?} because its size is {}, not 1",
                            input.shape, input.shape[a]
                        )));
                    }
                    drop[a] = true;
                }
            }
        }
        let mut layout = Layout { shape: Vec::new(), strides: Vec::new(), offset: input.offset };
        for i in (0..ndim).filter(|&i| !drop[i]) {
            layout.shape.push(input.shape[i]);
            layout.strides.push(input.strides[i]);
        }
        // MXNet 1.x has no 0-d arrays: squeezing every axis leaves shape (1,).
        if layout.shape.is_empty() {
            layout.shape.push(1);
            layout.strides.push(1);
        }
        Ok(layout)
    }

    fn grad(&self, x: &NDArray, dy: &NDArray) -> Result<NDArray> {
        reshape_to(dy, x.shape())
    }

    fn attrs(&self) -> Attrs {
        match &self.axis {
            Some(a) => vec![("axis".into(), tuple_string(a))],
            None => Attrs::new(),
        }
    }
}

pub struct Flatten;

impl ViewMap for Flatten {
    fn name(&self) -> &'static str {
        "Flatten"
    }

    fn map(&self, input: &Layout) -> Result<Layout> {
        let first = input.shape.first().copied().unwrap_or(1);
        let rest: usize = input.shape.iter().skip(1).product();
        if !input.is_contiguous() {
            return Err(Error::Value("Flatten: a strided input is copied".into()));
        }
        Ok(Layout { offset: input.offset, ..Layout::contiguous(&[first, rest]) })
    }

    fn copies_in_order(&self) -> bool {
        true
    }

    fn grad(&self, x: &NDArray, dy: &NDArray) -> Result<NDArray> {
        reshape_to(dy, x.shape())
    }

    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
}

pub struct Flip {
    axis: Vec<i64>,
}

impl ViewMap for Flip {
    fn name(&self) -> &'static str {
        "reverse"
    }

    fn map(&self, input: &Layout) -> Result<Layout> {
        let mut layout = input.clone();
        let mut seen = vec![false; input.ndim()];
        for &a in &self.axis {
            let a = axis_index("reverse", a, input.ndim())?;
            if seen[a] {
                return Err(Error::Value(format!("reverse: axis {a} is listed twice in {:?}", self.axis)));
            }
            seen[a] = true;
            let d = layout.shape[a];
            if d > 1 {
                let start = layout.offset as isize + (d as isize - 1) * layout.strides[a];
                layout.offset = start as usize;
                layout.strides[a] = -layout.strides[a];
            }
        }
        Ok(layout)
    }

    fn grad(&self, _x: &NDArray, dy: &NDArray) -> Result<NDArray> {
        call1("reverse", &[dy], &[("axis", tuple_string(&self.axis))])
    }

    fn attrs(&self) -> Attrs {
        vec![("axis".into(), tuple_string(&self.axis))]
    }
}

/// `tile` and `repeat`. Both read the input through a view with an extra zero-stride axis per
/// input axis (before it for `tile`, after it for `repeat`) and write that view row-major.
/// The output `(r0*d0, r1*d1, ...)` is then the expanded view `(r0, d0, r1, d1, ...)` for tile
/// or `(d0, r0, d1, r1, ...)` for repeat, and the gradient sums the zero-stride axes back.
pub struct Expand {
    name: &'static str,
    /// `tile`: `reps`; `repeat`: `repeats` and the axis (`None` flattens first).
    reps: Vec<usize>,
    axis: Option<i64>,
    tile: bool,
}

impl Expand {
    /// Compute the input shape the kernel works on (padded with leading 1s, or flattened for
    /// `repeat` without an axis) and the repeat count of each of its axes.
    fn plan(&self, shape: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
        if self.tile {
            let n = shape.len().max(self.reps.len());
            let mut dims = vec![1usize; n - shape.len()];
            dims.extend_from_slice(shape);
            let mut reps = vec![1usize; n - self.reps.len()];
            reps.extend_from_slice(&self.reps);
            return Ok((dims, reps));
        }
        let count = self.reps[0];
        match self.axis {
            None => Ok((vec![shape.iter().product()], vec![count])),
            Some(axis) => {
                let a = axis_index("repeat", axis, shape.len())?;
                let mut reps = vec![1usize; shape.len()];
                reps[a] = count;
                Ok((shape.to_vec(), reps))
            }
        }
    }

    /// Shape of the expanded view: pairs (rep, dim) for tile, (dim, rep) for repeat.
    fn expanded_shape(&self, dims: &[usize], reps: &[usize]) -> Vec<usize> {
        dims.iter()
            .zip(reps)
            .flat_map(|(&d, &r)| if self.tile { [r, d] } else { [d, r] })
            .collect()
    }
}

impl Operator for Expand {
    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        let (dims, reps) = self.plan(&x.shape)?;
        let shape = dims.iter().zip(&reps).map(|(&d, &r)| checked_size(self.name, d, r)).collect::<Result<Vec<usize>>>()?;
        Ok(vec![TensorDesc::new(shape, x.dtype)])
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let lx = x.layout();
        // Build the expanded source view: one zero-stride axis of length `rep` per repeated axis.
        let mut shape = Vec::new();
        let mut strides = Vec::new();
        if self.tile {
            let (dims, reps) = self.plan(x.shape())?;
            let lead = dims.len() - x.ndim();
            for (i, (&d, &r)) in dims.iter().zip(&reps).enumerate() {
                shape.extend_from_slice(&[r, d]);
                strides.extend_from_slice(&[0, if i < lead { 0 } else { lx.strides[i - lead] }]);
            }
        } else {
            let count = self.reps[0];
            let axis = match self.axis {
                Some(a) => Some(axis_index("repeat", a, x.ndim())?),
                None => None,
            };
            for i in 0..x.ndim() {
                shape.push(lx.shape[i]);
                strides.push(lx.strides[i]);
                if axis == Some(i) {
                    shape.push(count);
                    strides.push(0);
                }
            }
            if axis.is_none() {
                // Without an axis every element of the row-major input is repeated in turn.
                shape.push(count);
                strides.push(0);
            }
        }
        let src = x.with_layout(Layout { shape: shape.clone(), strides, offset: lx.offset });
        let dst = out.with_layout(Layout { offset: out.layout().offset, ..Layout::contiguous(&shape) });
        super::copy::copy_kernel(&src, &dst)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let x = &g.inputs[0];
        let (dims, reps) = self.plan(x.shape())?;
        let shape = self.expanded_shape(&dims, &reps);
        let dy = reshape_to(&g.out_grads[0], &shape)?;
        let first_rep = if self.tile { 0 } else { 1 };
        let rep_axes: Vec<usize> = (0..dims.len()).map(|i| 2 * i + first_rep).collect();
        let summed = call1("sum", &[&dy], &[("axis", tuple_string(&rep_axes))])?;
        Ok(vec![Some(reshape_to(&summed, x.shape())?)])
    }

    fn attrs(&self) -> Attrs {
        if self.tile {
            return vec![("reps".into(), tuple_string(&self.reps))];
        }
        let mut a = vec![("repeats".into(), self.reps[0].to_string())];
        if let Some(axis) = self.axis {
            a.push(("axis".into(), axis.to_string()));
        }
        a
    }
}

fn view_op<M: ViewMap>(m: M) -> Result<Arc<dyn Operator>> {
    Ok(Arc::new(ViewOp(m)) as Arc<dyn Operator>)
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "transpose",
        aliases: &[],
        arguments: &["data"],
        params: &["axes"],
        doc: "Permute the axes (a view); no axes reverses them.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("transpose", attrs);
            let axes = r.get::<Vec<i64>>("axes", vec![])?;
            r.finish(&["axes"])?;
            view_op(Transpose { axes })
        },
    });
    defs.push(OpDef {
        name: "SwapAxis",
        aliases: &["swapaxes"],
        arguments: &["data"],
        params: &["dim1", "dim2"],
        doc: "Interchange two axes (a view).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("SwapAxis", attrs);
            let dim1 = r.get("dim1", 0i64)?;
            let dim2 = r.get("dim2", 0i64)?;
            r.finish(&["dim1", "dim2"])?;
            view_op(SwapAxis { dim1, dim2 })
        },
    });
    defs.push(OpDef {
        name: "expand_dims",
        aliases: &[],
        arguments: &["data"],
        params: &["axis"],
        doc: "Insert an axis of size 1 at `axis` (a view).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("expand_dims", attrs);
            let axis = r.required::<i64>("axis")?;
            r.finish(&["axis"])?;
            view_op(ExpandDims { axis })
        },
    });
    defs.push(OpDef {
        name: "squeeze",
        aliases: &[],
        arguments: &["data"],
        params: &["axis"],
        doc: "Remove axes of size 1 (all of them when axis is None); a view.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("squeeze", attrs);
            let axis = r.opt::<Vec<i64>>("axis")?;
            r.finish(&["axis"])?;
            view_op(Squeeze { axis })
        },
    });
    defs.push(OpDef {
        name: "Flatten",
        aliases: &["flatten"],
        arguments: &["data"],
        params: &[],
        doc: "Collapse all axes after the first: (d0, d1, ..., dn) becomes (d0, d1*...*dn).",
        create: |attrs: &Attrs| {
            AttrReader::new("Flatten", attrs).finish(&[])?;
            view_op(Flatten)
        },
    });
    defs.push(OpDef {
        name: "reverse",
        aliases: &["flip"],
        arguments: &["data"],
        params: &["axis"],
        doc: "Reverse the order of elements along the given axes (a view).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("reverse", attrs);
            let axis = r.required::<Vec<i64>>("axis")?;
            r.finish(&["axis"])?;
            view_op(Flip { axis })
        },
    });
    defs.push(OpDef {
        name: "tile",
        aliases: &[],
        arguments: &["data"],
        params: &["reps"],
        doc: "Repeat the whole array `reps[i]` times along axis i, as numpy.tile.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("tile", attrs);
            let reps = r.required::<Vec<usize>>("reps")?;
            r.finish(&["reps"])?;
            Ok(Arc::new(Expand { name: "tile", reps, axis: None, tile: true }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "repeat",
        aliases: &[],
        arguments: &["data"],
        params: &["repeats", "axis"],
        doc: "Repeat each element `repeats` times along `axis` (the flattened array when axis is None).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("repeat", attrs);
            let repeats = r.required::<usize>("repeats")?;
            let axis = r.opt::<i64>("axis")?;
            r.finish(&["repeats", "axis"])?;
            Ok(Arc::new(Expand { name: "repeat", reps: vec![repeats], axis, tile: false }) as Arc<dyn Operator>)
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flip_layout_starts_at_last_element() {
        let flip = Flip { axis: vec![1] };
        let layout = flip.map(&Layout::contiguous(&[2, 3])).unwrap();
        assert_eq!((layout.offset, layout.strides.clone()), (2, vec![3, -1]));
        let data: Vec<i32> = (0..6).collect();
        assert_eq!(mxnet_cpu::strided::gather(&data, &layout), vec![2, 1, 0, 5, 4, 3]);
    }

    #[test]
    fn tile_plan_pads_shorter_side() {
        let tile = Expand { name: "tile", reps: vec![2], axis: None, tile: true };
        assert_eq!(tile.plan(&[3, 4]).unwrap(), (vec![3, 4], vec![1, 2]));
        let tile = Expand { name: "tile", reps: vec![2, 1, 3], axis: None, tile: true };
        assert_eq!(tile.plan(&[4]).unwrap(), (vec![1, 1, 4], vec![2, 1, 3]));
    }

    #[test]
    fn squeeze_of_all_unit_axes_keeps_one() {
        let layout = Squeeze { axis: None }.map(&Layout::contiguous(&[1, 1])).unwrap();
        assert_eq!(layout.shape, vec![1]);
    }
}
