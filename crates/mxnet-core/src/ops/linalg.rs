//! Matrix products: `dot` (1-D, 2-D and N-D, contracting the last axis of `lhs` with the first
//! axis of `rhs`) and `batch_dot` (3-D). Both run on `mxnet_cpu::gemm::matmul`, which takes
//! transposes as strides, and their gradients are `dot`/`batch_dot` calls with transpose flags.

use std::sync::Arc;

use rayon::prelude::*;

use mxnet_cpu::gemm::{matmul, MatRef};
use mxnet_cpu::parallel;

use super::axes::reshape_to;
use super::reduce::py_bool;
use crate::attrs::{AttrReader, Attrs};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::dispatch_float;

/// An operand of `dot` seen as a stored matrix: its rows and columns in row-major storage, the
/// dims that appear in the output, and whether the product uses its transpose.
struct Operand {
    rows: usize,
    cols: usize,
    out_dims: Vec<usize>,
    transposed: bool,
}

impl Operand {
    /// `lhs`: without transpose, rows are all axes but the last; with it, columns are all axes
    /// but the first. `rhs`: the mirror image. A 1-D operand contributes no output dims.
    fn new(shape: &[usize], transposed: bool, is_lhs: bool) -> Operand {
        let n = shape.len();
        let head = shape.first().copied().unwrap_or(1);
        let last = shape.last().copied().unwrap_or(1);
        let all_but_last: usize = shape[..n.saturating_sub(1)].iter().product();
        let all_but_first: usize = shape.iter().skip(1).product();
        // "Split after the first axis" or "split before the last axis" of the stored array.
        let split_first = is_lhs == transposed;
        let (rows, cols) = if n == 1 {
            if split_first { (head, 1) } else { (1, last) }
        } else if split_first {
            (head, all_but_first)
        } else {
            (all_but_last, last)
        };
        let out_dims = if n <= 1 {
            vec![]
        } else if split_first {
            shape[1..].to_vec()
        } else {
            shape[..n - 1].to_vec()
        };
        Operand { rows, cols, out_dims, transposed }
    }

    /// Rows and columns of the matrix that enters the product.
    fn effective(&self) -> (usize, usize) {
        if self.transposed { (self.cols, self.rows) } else { (self.rows, self.cols) }
    }

    /// Describe the effective matrix over `data`, whose element 0 is the stored matrix's first element
    /// and whose stored rows and columns are `row_stride` and `col_stride` apart.
    fn matref<'a, T>(&self, data: &'a [T], row_stride: isize, col_stride: isize) -> MatRef<'a, T> {
        if self.transposed {
            MatRef { data, row_stride: col_stride, col_stride: row_stride }
        } else {
            MatRef { data, row_stride, col_stride }
        }
    }
}

/// Locate the stored `rows x cols` matrix of `x` (start offset, row and column strides) when
/// its layout allows reading it in place: a contiguous array, or a 1-D or 2-D view with
/// positive strides (a transposed or sliced matrix). Other layouts need a row-major copy.
fn strided_matrix(x: &NDArray, rows: usize, cols: usize) -> Option<(usize, isize, isize)> {
    let layout = x.layout();
    if layout.is_contiguous() {
        return Some((layout.offset, cols as isize, 1));
    }
    let positive = layout.shape.iter().zip(&layout.strides).all(|(&d, &s)| d <= 1 || s > 0);
    match (positive, layout.ndim()) {
        (true, 2) => Some((layout.offset, layout.strides[0].max(0), layout.strides[1].max(0))),
        // A vector is one stored row (rows == 1) or one stored column (cols == 1).
        (true, 1) if rows == 1 => Some((layout.offset, 0, layout.strides[0].max(0))),
        (true, 1) if cols == 1 => Some((layout.offset, layout.strides[0].max(0), 0)),
        _ => None,
    }
}

/// Run `f` with a matrix view of `x` (stored `rows x cols`): in place when the layout allows,
/// otherwise over a row-major copy.
///
/// # Safety
/// Call only inside an engine operation that reads `x`.
/// The GPU operand of `x` seen as `op`: its own strides when they describe a matrix, else
/// those of a contiguous copy (kept alive in `holder`).
fn gpu_matrix<'a>(x: &'a NDArray, op: &Operand, holder: &'a mut Option<NDArray>) -> Result<crate::gpu::Matrix<'a>> {
    let array: &NDArray = if strided_matrix(x, op.rows, op.cols).is_some() {
        x
    } else {
        holder.insert(crate::gpu::contiguous(x)?)
    };
    let (offset, rs, cs) = strided_matrix(array, op.rows, op.cols).expect("a contiguous array is a matrix");
    let (rs, cs) = if op.transposed { (cs, rs) } else { (rs, cs) };
    Ok(crate::gpu::Matrix { array, offset, strides: [0, rs, cs] })
}

unsafe fn with_matrix<T: crate::dtype::Element, R>(
    x: &NDArray,
    rows: usize,
    cols: usize,
    f: impl FnOnce(&[T], isize, isize) -> R,
) -> R {
    match strided_matrix(x, rows, cols) {
        Some((offset, rs, cs)) => f(&x.data::<T>()[offset..], rs, cs),
        None => f(&x.contiguous_data::<T>(), cols as isize, 1),
    }
}

pub struct Dot {
    transpose_a: bool,
    transpose_b: bool,
}

impl Dot {
    fn operands(&self, a: &[usize], b: &[usize]) -> Result<(Operand, Operand, Vec<usize>)> {
        if a.is_empty() || b.is_empty() {
            return Err(Error::Value(format!("dot: operands of shapes {a:?} and {b:?} must have at least one dimension")));
        }
        let la = Operand::new(a, self.transpose_a, true);
        let lb = Operand::new(b, self.transpose_b, false);
        let (_, ka) = la.effective();
        let (kb, _) = lb.effective();
        if ka != kb {
            return Err(Error::Value(format!(
                "dot: shapes {a:?} and {b:?} (transpose_a={}, transpose_b={}) do not align: the contracted sizes are {ka} and {kb}",
                self.transpose_a, self.transpose_b
            )));
        }
        let mut out: Vec<usize> = la.out_dims.iter().chain(&lb.out_dims).copied().collect();
        // MXNet 1.x has no 0-d arrays: the dot of two vectors has shape (1,).
        if out.is_empty() {
            out.push(1);
        }
        Ok((la, lb, out))
    }
}

fn check_float_pair(op: &str, a: &TensorDesc, b: &TensorDesc) -> Result<()> {
    if a.dtype != b.dtype {
        return Err(Error::Type(format!(
            "{op}: operands have different dtypes {} and {}; cast one with astype() first",
            a.dtype, b.dtype
        )));
    }
    if !matches!(a.dtype, crate::DType::Float32 | crate::DType::Float64) {
        return Err(Error::Type(format!("{op}: dtype {} is not supported; cast the operands to float32 or float64", a.dtype)));
    }
    Ok(())
}

impl Operator for Dot {
    fn name(&self) -> &'static str {
        "dot"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [a, b] = inputs else {
            return Err(Error::Value(format!("dot: expected 2 inputs, got {}", inputs.len())));
        };
        check_float_pair("dot", a, b)?;
        let (_, _, out) = self.operands(&a.shape, &b.shape)?;
        Ok(vec![TensorDesc::new(out, a.dtype)])
    }

    /// `matmul` overwrites the product, zeros included when the inner dimension is 0.
    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (a, b, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let (la, lb, _) = self.operands(a.shape(), b.shape())?;
        let (m, k) = la.effective();
        let (_, n) = lb.effective();
        // SAFETY: called by the engine with the inputs read and `out` written.
        unsafe {
            dispatch_float!("dot", a.dtype(), T => {
                let c = out.out_data::<T>();
                with_matrix::<T, _>(a, la.rows, la.cols, |da, ars, acs| {
                    with_matrix::<T, _>(b, lb.rows, lb.cols, |db, brs, bcs| {
                        matmul(m, n, k, la.matref(da, ars, acs), lb.matref(db, brs, bcs), c, false, 0.0, 1.0);
                    })
                });
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (a, b, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let (la, lb, _) = self.operands(a.shape(), b.shape())?;
        let (m, k) = la.effective();
        let (_, n) = lb.effective();
        let (mut ha, mut hb) = (None, None);
        let ma = gpu_matrix(a, &la, &mut ha)?;
        let mb = gpu_matrix(b, &lb, &mut hb)?;
        crate::gpu::matmul("dot", &ma, &mb, 1, m, n, k, out)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let (a, b) = (&g.inputs[0], &g.inputs[1]);
        let (la, lb, _) = self.operands(a.shape(), b.shape())?;
        let (m, _) = la.effective();
        let (_, n) = lb.effective();
        // Work on 2-D forms: A (stored la.rows x la.cols), B likewise, dC (m x n).
        let a2 = reshape_to(a, &[la.rows, la.cols])?;
        let b2 = reshape_to(b, &[lb.rows, lb.cols])?;
        let dc = reshape_to(&g.out_grads[0], &[m, n])?;
        let (ta, tb) = (self.transpose_a, self.transpose_b);
        // dA_eff = dC @ B_eff^T and dB_eff = A_eff^T @ dC, stored back in each operand's layout.
        let da = if ta { dot2("dot", &b2, &dc, tb, true)? } else { dot2("dot", &dc, &b2, false, !tb)? };
        let db = if tb { dot2("dot", &dc, &a2, true, ta)? } else { dot2("dot", &a2, &dc, !ta, false)? };
        Ok(vec![Some(reshape_to(&da, a.shape())?), Some(reshape_to(&db, b.shape())?)])
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("transpose_a".into(), py_bool(self.transpose_a)),
            ("transpose_b".into(), py_bool(self.transpose_b)),
        ]
    }
}

fn dot2(op: &str, a: &NDArray, b: &NDArray, ta: bool, tb: bool) -> Result<NDArray> {
    call1(op, &[a, b], &[("transpose_a", py_bool(ta)), ("transpose_b", py_bool(tb))])
}

/// Batched products with fewer multiply-adds in total than this loop over the batch on one
/// thread; above it each batch element is a rayon task (an estimate, not a measured threshold).
const BATCH_PARALLEL_MIN_FLOPS: usize = 1 << 18;

pub struct BatchDot {
    transpose_a: bool,
    transpose_b: bool,
}

impl BatchDot {
    /// Batch size, and (m, k, n) of each product.
    fn dims(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize, usize)> {
        if a.len() != 3 || b.len() != 3 || a[0] != b[0] {
            return Err(Error::Value(format!(
                "batch_dot: operands must be 3-D with the same batch size, got shapes {a:?} and {b:?}"
            )));
        }
        let (m, ka) = if self.transpose_a { (a[2], a[1]) } else { (a[1], a[2]) };
        let (kb, n) = if self.transpose_b { (b[2], b[1]) } else { (b[1], b[2]) };
        if ka != kb {
            return Err(Error::Value(format!(
                "batch_dot: shapes {a:?} and {b:?} (transpose_a={}, transpose_b={}) do not align: the contracted sizes are {ka} and {kb}",
                self.transpose_a, self.transpose_b
            )));
        }
        Ok((a[0], m, ka, n))
    }
}

impl Operator for BatchDot {
    fn name(&self) -> &'static str {
        "batch_dot"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [a, b] = inputs else {
            return Err(Error::Value(format!("batch_dot: expected 2 inputs, got {}", inputs.len())));
        };
        check_float_pair("batch_dot", a, b)?;
        let (batch, m, _, n) = self.dims(&a.shape, &b.shape)?;
        Ok(vec![TensorDesc::new(vec![batch, m, n], a.dtype)])
    }

    /// `matmul` overwrites the product, zeros included when the inner dimension is 0.
    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (a, b, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let (batch, m, k, n) = self.dims(a.shape(), b.shape())?;
        let la = Operand { rows: a.shape()[1], cols: a.shape()[2], out_dims: vec![], transposed: self.transpose_a };
        let lb = Operand { rows: b.shape()[1], cols: b.shape()[2], out_dims: vec![], transposed: self.transpose_b };
        // SAFETY: called by the engine with the inputs read and `out` written.
        unsafe {
            dispatch_float!("batch_dot", a.dtype(), T => {
                let da = a.contiguous_data::<T>();
                let db = b.contiguous_data::<T>();
                let dc = out.out_data::<T>();
                let (sa, sb, sc) = (m * k, k * n, m * n);
                let product = |(i, ci): (usize, &mut [T])| {
                    let ai = la.matref(&da[i * sa..(i + 1) * sa], la.cols as isize, 1);
                    let bi = lb.matref(&db[i * sb..(i + 1) * sb], lb.cols as isize, 1);
                    matmul(m, n, k, ai, bi, ci, false, 0.0, 1.0);
                };
                if sc == 0 {
                    // Empty products leave nothing to write.
                } else if batch > 1 && batch * sc * k >= BATCH_PARALLEL_MIN_FLOPS {
                    parallel::install(|| dc.par_chunks_mut(sc).enumerate().for_each(product));
                } else {
                    dc.chunks_mut(sc).enumerate().for_each(product);
                }
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (batch, m, k, n) = self.dims(inputs[0].shape(), inputs[1].shape())?;
        let a = crate::gpu::contiguous(&inputs[0])?;
        let b = crate::gpu::contiguous(&inputs[1])?;
        let ma = crate::gpu::Matrix::packed(&a, a.shape()[1], a.shape()[2], self.transpose_a);
        let mb = crate::gpu::Matrix::packed(&b, b.shape()[1], b.shape()[2], self.transpose_b);
        crate::gpu::matmul("batch_dot", &ma, &mb, batch, m, n, k, &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let (a, b, dc) = (&g.inputs[0], &g.inputs[1], &g.out_grads[0]);
        let (ta, tb) = (self.transpose_a, self.transpose_b);
        let da = if ta { dot2("batch_dot", b, dc, tb, true)? } else { dot2("batch_dot", dc, b, false, !tb)? };
        let db = if tb { dot2("batch_dot", dc, a, true, ta)? } else { dot2("batch_dot", a, dc, !ta, false)? };
        Ok(vec![Some(da), Some(db)])
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("transpose_a".into(), py_bool(self.transpose_a)),
            ("transpose_b".into(), py_bool(self.transpose_b)),
        ]
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "dot",
        aliases: &[],
        arguments: &["lhs", "rhs"],
        params: &["transpose_a", "transpose_b", "forward_stype"],
        doc: "Matrix product contracting the last axis of lhs with the first axis of rhs.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("dot", attrs);
            let transpose_a = r.get("transpose_a", false)?;
            let transpose_b = r.get("transpose_b", false)?;
            // Storage-type hints select sparse kernels in MXNet; dense arrays ignore them.
            r.ignore(&["forward_stype"]);
            r.finish(&["transpose_a", "transpose_b", "forward_stype"])?;
            Ok(Arc::new(Dot { transpose_a, transpose_b }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "batch_dot",
        aliases: &[],
        arguments: &["lhs", "rhs"],
        params: &["transpose_a", "transpose_b", "forward_stype"],
        doc: "Batched matrix product of 3-D arrays: out[i] = lhs[i] @ rhs[i].",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("batch_dot", attrs);
            let transpose_a = r.get("transpose_a", false)?;
            let transpose_b = r.get("transpose_b", false)?;
            r.ignore(&["forward_stype"]);
            r.finish(&["transpose_a", "transpose_b", "forward_stype"])?;
            Ok(Arc::new(BatchDot { transpose_a, transpose_b }) as Arc<dyn Operator>)
        },
    });
}

#[cfg(test)]
mod tests {
    use super::Operand;

    #[test]
    fn dot_operands_follow_mxnet_shape_rules() {
        // lhs (2, 3, 4) contracts its last axis: rows 6, out dims (2, 3).
        let a = Operand::new(&[2, 3, 4], false, true);
        assert_eq!((a.rows, a.cols, a.out_dims.clone()), (6, 4, vec![2, 3]));
        // transpose_a on N-D contracts the first axis instead.
        let a = Operand::new(&[2, 3, 4], true, true);
        assert_eq!((a.effective(), a.out_dims.clone()), ((12, 2), vec![3, 4]));
        // rhs (4, 5, 6) contracts its first axis.
        let b = Operand::new(&[4, 5, 6], false, false);
        assert_eq!((b.effective(), b.out_dims.clone()), ((4, 30), vec![5, 6]));
        // A 1-D rhs is a column.
        let b = Operand::new(&[4], false, false);
        assert_eq!((b.effective(), b.out_dims.len()), ((4, 1), 0));
    }
}
