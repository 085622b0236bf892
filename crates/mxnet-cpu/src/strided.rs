//! Iteration over strided views in row-major order, one contiguous-index run at a time, so
//! the hot loops run over the innermost dimension without per-element index arithmetic.

use crate::layout::Layout;
use crate::{parallel, simd};

/// Call `f(offsets, len, inner_strides)` for each run along the innermost dimension of `shape`,
/// where `offsets[k]` is the element offset of the run's start in view `k` and the run has
/// `len` elements spaced `inner_strides[k]` apart. All views must have `shape` as their shape.
pub fn for_each_run<const N: usize>(
    shape: &[usize],
    views: [&Layout; N],
    mut f: impl FnMut([isize; N], usize, [isize; N]),
) {
    if shape.iter().any(|&d| d == 0) {
        return;
    }
    let ndim = shape.len();
    if ndim == 0 {
        f(views.map(|v| v.offset as isize), 1, [0; N]);
        return;
    }
    let inner = shape[ndim - 1];
    let inner_strides = views.map(|v| v.strides[ndim - 1]);
    let mut index = vec![0usize; ndim - 1];
    let mut base = views.map(|v| v.offset as isize);
    loop {
        f(base, inner, inner_strides);
        // Advance the outer index like an odometer, updating each view's base offset.
        let mut axis = ndim - 1;
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            for k in 0..N {
                base[k] += views[k].strides[axis];
            }
            if index[axis] < shape[axis] {
                break;
            }
            for k in 0..N {
                base[k] -= views[k].strides[axis] * shape[axis] as isize;
            }
            index[axis] = 0;
        }
    }
}

/// Copy a strided view into a new row-major vector.
pub fn gather<T: bytemuck::Pod>(data: &[T], layout: &Layout) -> Vec<T> {
    let mut out = bytemuck::zeroed_vec(layout.size());
    gather_into(data, layout, &mut out);
    out
}

/// Copy the strided view `layout` of `data` into the row-major `out`.
pub fn gather_into<T: Copy>(data: &[T], layout: &Layout, out: &mut [T]) {
    let lay = layout.coalesced();
    if let Some(unit_dim) = transposed_dim(&lay) {
        return gather_tiled(data, &lay, unit_dim, out);
    }
    let mut pos = 0;
    for_each_run(&lay.shape, [&lay], |[o], n, [s]| {
        let dst = &mut out[pos..pos + n];
        if s == 1 {
            dst.copy_from_slice(&data[o as usize..o as usize + n]);
        } else {
            for (i, d) in dst.iter_mut().enumerate() {
                *d = data[(o + i as isize * s) as usize];
            }
        }
        pos += n;
    });
}

/// Side of the square tiles of [`gather_tiled`]: 32 rows of 32 floats read 32 cache lines,
/// which stay in L1 while the tile is written.
const TILE: usize = 32;

/// Return the dimension of stride 1 of a view whose innermost dimension is strided, such as a
/// transposed matrix, when both span at least a tile.
fn transposed_dim(lay: &Layout) -> Option<usize> {
    let inner = lay.ndim().checked_sub(1)?;
    if lay.strides[inner] == 1 || lay.shape[inner] < TILE {
        return None;
    }
    (0..inner).find(|&k| lay.strides[k] == 1 && lay.shape[k] >= TILE)
}

/// [`gather_into`] for a view whose dimension `unit_dim` has stride 1 while the innermost one
/// is strided. Copying run by run would read one element per cache line, so 2-D tiles of
/// those two dimensions are copied instead: for a 2048x2048 float32 transpose this measured
/// 5x faster.
fn gather_tiled<T: Copy>(data: &[T], lay: &Layout, unit_dim: usize, out: &mut [T]) {
    let inner = lay.ndim() - 1;
    let mut out_strides = vec![1usize; lay.ndim()];
    for k in (0..inner).rev() {
        out_strides[k] = out_strides[k + 1] * lay.shape[k + 1];
    }
    // The other dimensions, walked by `for_each_run` with a trailing dimension of one element.
    let others: Vec<usize> = (0..inner).filter(|&k| k != unit_dim).collect();
    let shape: Vec<usize> = others.iter().map(|&k| lay.shape[k]).chain([1]).collect();
    let src = Layout { shape: shape.clone(), strides: others.iter().map(|&k| lay.strides[k]).chain([0]).collect(), offset: lay.offset };
    let dst = Layout { shape: shape.clone(), strides: others.iter().map(|&k| out_strides[k] as isize).chain([0]).collect(), offset: 0 };
    let (rows, cols) = (lay.shape[unit_dim], lay.shape[inner]);
    let (col_stride, out_row_stride) = (lay.strides[inner], out_strides[unit_dim]);
    for_each_run(&shape, [&src, &dst], |[src_base, dst_base], _, _| {
        for row0 in (0..rows).step_by(TILE) {
            for col0 in (0..cols).step_by(TILE) {
                for row in row0..(row0 + TILE).min(rows) {
                    let from = src_base + row as isize;
                    let to = dst_base as usize + row * out_row_stride;
                    for col in col0..(col0 + TILE).min(cols) {
                        out[to + col] = data[(from + col as isize * col_stride) as usize];
                    }
                }
            }
        }
    });
}

/// Write row-major `src` into the strided view `layout` of `dst`.
pub fn scatter<T: Copy>(src: &[T], dst: &mut [T], layout: &Layout) {
    let mut pos = 0usize;
    let lay = layout.coalesced();
    for_each_run(&lay.shape, [&lay], |[o], n, [s]| {
        if s == 1 {
            dst[o as usize..o as usize + n].copy_from_slice(&src[pos..pos + n]);
        } else {
            for i in 0..n {
                dst[(o + i as isize * s) as usize] = src[pos + i];
            }
        }
        pos += n;
    });
}

/// `out[i] = f(a[i], b[i])` over views `a` and `b` broadcast to `shape`; `out` is row-major.
/// Operands that are contiguous together run as one flat loop, split across the kernel pool
/// when long. `f` is `Copy` so that each loop works on its own copy: reached through a
/// reference, the values it captures were loaded again for every element.
pub fn binary_map<A: Copy + Sync, B: Copy + Sync, O: Send>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    out: &mut [O],
    f: impl Fn(A, B) -> O + Sync + Copy,
) {
    if out.is_empty() {
        // An empty view's offset may lie past the end of its storage.
        return;
    }
    if la.is_contiguous() && lb.is_contiguous() {
        let n = out.len();
        let (a, b) = (&a[la.offset..la.offset + n], &b[lb.offset..lb.offset + n]);
        return parallel::for_each_chunk2(a, b, out, |a, b, dst| simd::zip_map(a, b, dst, f));
    }
    let lo = Layout::contiguous(&la.shape);
    let [la, lb, lo] = coalesce_jointly([la, lb, &lo]);
    let shape = la.shape.clone();
    for_each_run(&shape, [&la, &lb, &lo], |[oa, ob, oo], n, [sa, sb, _]| {
        let dst = &mut out[oo as usize..oo as usize + n];
        match (sa, sb) {
            (1, 1) => simd::zip_map(&a[oa as usize..oa as usize + n], &b[ob as usize..ob as usize + n], dst, f),
            // `move` keeps the scalar operand in a register: captured by reference, it was
            // loaded again for every element and the loop stayed scalar.
            (1, 0) => {
                let y = b[ob as usize];
                simd::map(&a[oa as usize..oa as usize + n], dst, move |x| f(x, y));
            }
            (0, 1) => {
                let x = a[oa as usize];
                simd::map(&b[ob as usize..ob as usize + n], dst, move |y| f(x, y));
            }
            _ => {
                for (i, d) in dst.iter_mut().enumerate() {
                    let i = i as isize;
                    *d = f(a[(oa + i * sa) as usize], b[(ob + i * sb) as usize]);
                }
            }
        }
    });
}

/// Merge adjacent dims that are back to back in every view (all views share one shape), so
/// that contiguous operands iterate as one long run instead of one run per innermost row.
pub fn coalesce_jointly<const N: usize>(views: [&Layout; N]) -> [Layout; N] {
    let ndim = views[0].ndim();
    let mut shape: Vec<usize> = Vec::with_capacity(ndim);
    let mut strides: [Vec<isize>; N] = std::array::from_fn(|_| Vec::with_capacity(ndim));
    for axis in 0..ndim {
        let d = views[0].shape[axis];
        if d == 1 && ndim > 1 {
            continue;
        }
        let mergeable = !shape.is_empty()
            && (0..N).all(|k| *strides[k].last().unwrap() == views[k].strides[axis] * d as isize);
        if mergeable {
            *shape.last_mut().unwrap() *= d;
            for k in 0..N {
                *strides[k].last_mut().unwrap() = views[k].strides[axis];
            }
        } else {
            shape.push(d);
            for k in 0..N {
                strides[k].push(views[k].strides[axis]);
            }
        }
    }
    if shape.is_empty() {
        shape.push(1);
        for k in 0..N {
            strides[k].push(1);
        }
    }
    std::array::from_fn(|k| Layout { shape: shape.clone(), strides: strides[k].clone(), offset: views[k].offset })
}

/// `out[i] = f(a[i])` over the view `a`; `out` is row-major with `a`'s shape. A contiguous
/// view runs as one flat loop, split across the kernel pool when long. `f` is `Copy` for the
/// reason given at [`binary_map`].
pub fn unary_map<A: Copy + Sync, O: Send>(a: &[A], la: &Layout, out: &mut [O], f: impl Fn(A) -> O + Sync + Copy) {
    if out.is_empty() {
        // An empty view's offset may lie past the end of its storage.
        return;
    }
    if la.is_contiguous() {
        let src = &a[la.offset..la.offset + la.size()];
        return parallel::for_each_chunk(src, out, |src, dst| simd::map(src, dst, f));
    }
    let lo = Layout::contiguous(&la.shape);
    for_each_run(&la.shape, [la, &lo], |[oa, oo], n, [sa, _]| {
        for i in 0..n {
            out[oo as usize + i] = f(a[(oa + i as isize * sa) as usize]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_transposed_view() {
        let data: Vec<i32> = (0..6).collect();
        let t = Layout::contiguous(&[2, 3]).permute(&[1, 0]);
        assert_eq!(gather(&data, &t), vec![0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn gather_tiles_transposed_views() {
        // Transposes of a 3-D array, with sizes that are not multiples of the tile.
        let (d0, d1, d2) = (3, 37, 70);
        let data: Vec<i32> = (0..(d0 * d1 * d2) as i32).collect();
        let base = Layout::contiguous(&[d0, d1, d2]);
        for axes in [[0, 2, 1], [2, 1, 0], [1, 2, 0], [2, 0, 1]] {
            let view = base.permute(&axes);
            let got = gather(&data, &view);
            let mut expected = Vec::new();
            for_each_run(&view.shape, [&view], |[o], n, [s]| {
                expected.extend((0..n as isize).map(|i| data[(o + i * s) as usize]));
            });
            assert_eq!(got, expected, "axes {axes:?}");
        }
    }

    #[test]
    fn binary_map_broadcasts_rows() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [10.0f32, 20.0, 30.0];
        let la = Layout::contiguous(&[2, 3]);
        let lb = Layout::contiguous(&[3]).broadcast_to(&[2, 3]).unwrap();
        let mut out = [0.0f32; 6];
        binary_map(&a, &la, &b, &lb, &mut out, |x, y| x + y);
        assert_eq!(out, [11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
    }
}
