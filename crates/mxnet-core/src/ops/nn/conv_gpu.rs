//! Convolution on a GPU as im2col and matrix products (the GPU half of `convolution.rs`).
//! Images are unfolded in chunks whose columns fit one kernel binding, and each group is one
//! batched product, so no per-image dispatch is recorded.

use mxnet_cpu::nn::conv::Conv2d;
use mxnet_cpu::Layout;
use mxnet_gpu::kernels::conv::{col2im, im2col, Chunk, Columns};
use mxnet_gpu::kernels::matmul::{matmul, Operand};
use mxnet_gpu::kernels::reduce::Reducer;

use crate::error::Result;
use crate::gpu;
use crate::ndarray::NDArray;

/// Upper bound on the bytes of one chunk's columns: large enough that LeNet-sized batches
/// unfold at once, small enough for software adapters' 128 MiB bindings.
const COLUMN_BYTES: usize = 64 << 20;

struct Plan {
    /// Input channels of one group times the kernel area: the rows of the columns.
    rows: usize,
    filters: usize,
    positions: usize,
    chunk: usize,
}

fn plan(geo: &Conv2d, device: &mxnet_gpu::Device) -> Plan {
    let rows = geo.in_channels / geo.groups * geo.kernel[0] * geo.kernel[1];
    let positions = geo.out_h * geo.out_w;
    let budget = COLUMN_BYTES.min(device.max_binding_bytes() as usize) / 4;
    let chunk = (budget / (rows * positions).max(1)).clamp(1, geo.batch.max(1));
    Plan { rows, filters: geo.filters / geo.groups, positions, chunk }
}

fn operand(x: &NDArray, offset: usize, strides: [isize; 3]) -> Result<Operand<'_>> {
    Ok(Operand { buffer: gpu::buffer(x)?, offset: x.layout().offset + offset, strides })
}

/// `out = conv(x, w) + b`; all arrays contiguous.
pub fn forward(geo: &Conv2d, x: &NDArray, w: &NDArray, b: Option<&NDArray>, out: &NDArray) -> Result<()> {
    let device = gpu::buffer(out)?.device().clone();
    let Plan { rows, filters, positions, chunk } = plan(geo, &device);
    let image_in = geo.in_channels * geo.height * geo.width;
    let image_out = geo.filters * positions;
    let cols = mxnet_gpu::Buffer::allocate(&device, (chunk * rows * positions * 4) as u64)?;
    let layout = Columns { image_stride: rows * positions, row_stride: positions };
    for n0 in (0..geo.batch).step_by(chunk) {
        let images = chunk.min(geo.batch - n0);
        for group in 0..geo.groups {
            let at = Chunk { offset: x.layout().offset + n0 * image_in, images, group };
            im2col(geo, at, gpu::buffer(x)?, layout, &cols)?;
            // out[n, group's filters] (filters x positions) = W_group (filters x rows) @ cols[n]
            let a = operand(w, group * filters * rows, [0, rows as isize, 1])?;
            let b_cols = Operand { buffer: &cols, offset: 0, strides: [(rows * positions) as isize, positions as isize, 1] };
            let c = operand(out, n0 * image_out + group * filters * positions, [image_out as isize, positions as isize, 1])?;
            matmul(&a, &b_cols, images, filters, positions, rows, 1.0, false, &c)?;
        }
    }
    if let Some(b) = b {
        // The bias as a (filters, 1[, 1]) column broadcast over the batch and positions.
        let mut shape = vec![geo.filters];
        shape.extend(std::iter::repeat_n(1, out.ndim() - 2));
        let mut strides = vec![1isize];
        strides.extend(std::iter::repeat_n(0, out.ndim() - 2));
        let column = b.with_layout(Layout { shape, strides, offset: b.layout().offset });
        gpu::map("Convolution", "x0 + x1", &[out, &column], &[], out)?;
    }
    Ok(())
}

/// Gradients of [`forward`]: `dx` (when `dx` is given), `dw` and `db`; all arrays contiguous.
pub fn backward(geo: &Conv2d, dy: &NDArray, x: &NDArray, w: &NDArray, dx: Option<&NDArray>, dw: &NDArray, db: Option<&NDArray>) -> Result<()> {
    let device = gpu::buffer(dw)?.device().clone();
    let Plan { rows, filters, positions, chunk } = plan(geo, &device);
    let image_in = geo.in_channels * geo.height * geo.width;
    let image_out = geo.filters * positions;
    let cols = mxnet_gpu::Buffer::allocate(&device, (chunk * rows * positions * 4) as u64)?;
    let dy_rows = NDArray::for_overwrite(&[filters, chunk, positions], dy.dtype(), dy.context())?;
    if geo.batch == 0 {
        device.clear(gpu::buffer(dw)?.raw(), (dw.size() * 4) as u64);
    }
    for n0 in (0..geo.batch).step_by(chunk) {
        let images = chunk.min(geo.batch - n0);
        for group in 0..geo.groups {
            let at = Chunk { offset: x.layout().offset + n0 * image_in, images, group };
            let dy_at = n0 * image_out + group * filters * positions;
            // dW_group (filters x rows) += dy (filters x images*positions) @ cols^T, with the
            // columns laid out as (rows, images*positions) and dy's images gathered behind
            // each filter.
            let span = images * positions;
            im2col(geo, at, gpu::buffer(x)?, Columns { image_stride: positions, row_stride: span }, &cols)?;
            let dy_view = dy.with_layout(Layout {
                shape: vec![filters, images, positions],
                strides: vec![positions as isize, image_out as isize, 1],
                offset: dy.layout().offset + dy_at,
            });
            let packed = dy_rows.with_layout(Layout::contiguous(&[filters, images, positions]));
            gpu::map("_backward_Convolution", "x0", &[&dy_view], &[], &packed)?;
            let a = operand(&packed, 0, [0, span as isize, 1])?;
            let b_cols = Operand { buffer: &cols, offset: 0, strides: [0, 1, span as isize] };
            let c = operand(dw, group * filters * rows, [0, rows as isize, 1])?;
            matmul(&a, &b_cols, 1, filters, rows, span, 1.0, n0 > 0, &c)?;
            if let Some(dx) = dx {
                // dcols[n] (rows x positions) = W_group^T (rows x filters) @ dy[n], then summed
                // back into the images.
                let a = operand(w, group * filters * rows, [0, 1, rows as isize])?;
                let b_dy = operand(dy, dy_at, [image_out as isize, positions as isize, 1])?;
                let c = Operand { buffer: &cols, offset: 0, strides: [(rows * positions) as isize, positions as isize, 1] };
                matmul(&a, &b_dy, images, rows, positions, filters, 1.0, false, &c)?;
                let dx_at = Chunk { offset: dx.layout().offset + n0 * image_in, images, group };
                col2im(geo, dx_at, Columns { image_stride: rows * positions, row_stride: positions }, &cols, gpu::buffer(dx)?)?;
            }
        }
    }
    if let Some(db) = db {
        let view = dy.with_layout(Layout { offset: dy.layout().offset, ..Layout::contiguous(&[geo.batch, geo.filters, positions]) });
        gpu::reduce("_backward_Convolution", Reducer::Sum, &view, &[true, false, true], 1.0, db)?;
    }
    Ok(())
}
