//! Reflection padding of the two spatial dimensions as a gather forward and a scatter-add
//! backward.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::{by_planes, contiguous_slice, with_f32};

/// Pads H and W of an NCHW tensor by `pad` on each side, mirroring without the edge.
pub struct ReflectionPadOp {
    pub pad: usize,
}

/// Source index of output position `i` along an axis of `len` inputs padded by `pad`.
fn mirrored(i: usize, len: usize, pad: usize) -> usize {
    let shifted = i as isize - pad as isize;
    let last = len as isize - 1;
    let reflected = if shifted < 0 {
        -shifted
    } else if shifted > last {
        2 * last - shifted
    } else {
        shifted
    };
    reflected as usize
}

impl ReflectionPadOp {
    fn check(&self, height: usize, width: usize) -> Result<()> {
        if self.pad >= height || self.pad >= width {
            candle_core::bail!(
                "reflection padding {} needs a spatial size above it, got {height}x{width}",
                self.pad
            );
        }
        Ok(())
    }
}

impl CustomOp1 for ReflectionPadOp {
    fn name(&self) -> &'static str {
        "mcgan-reflection-pad"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (batch, channels, height, width) = layout.shape().dims4()?;
        self.check(height, width)?;
        let x = contiguous_slice(storage, layout)?;
        let (out_h, out_w) = (height + 2 * self.pad, width + 2 * self.pad);
        let columns: Vec<usize> = (0..out_w).map(|j| mirrored(j, width, self.pad)).collect();
        let y = by_planes(
            batch * channels * out_h * out_w,
            out_h * out_w,
            |index, out| {
                let plane = &x[index * height * width..][..height * width];
                for (i, out_row) in out.chunks_mut(out_w).enumerate() {
                    let row = mirrored(i, height, self.pad);
                    let source = &plane[row * width..(row + 1) * width];
                    out_row[self.pad..self.pad + width].copy_from_slice(source);
                    for j in (0..self.pad).chain(self.pad + width..out_w) {
                        out_row[j] = source[columns[j]];
                    }
                }
            },
        );
        let shape = Shape::from((batch, channels, out_h, out_w));
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, height, width) = x.dims4()?;
        let (out_h, out_w) = (height + 2 * self.pad, width + 2 * self.pad);
        let columns: Vec<usize> = (0..out_w).map(|j| mirrored(j, width, self.pad)).collect();
        let grad_x = with_f32(grad, |grad| {
            Ok(by_planes(x.elem_count(), height * width, |index, dx| {
                let dy = &grad[index * out_h * out_w..][..out_h * out_w];
                for (i, dy_row) in dy.chunks(out_w).enumerate() {
                    let row = mirrored(i, height, self.pad);
                    let target = &mut dx[row * width..(row + 1) * width];
                    let inside = &dy_row[self.pad..self.pad + width];
                    for (value, &g) in target.iter_mut().zip(inside) {
                        *value += g;
                    }
                    for j in (0..self.pad).chain(self.pad + width..out_w) {
                        target[columns[j]] += dy_row[j];
                    }
                }
            }))
        })?;
        Ok(Some(Tensor::from_vec(grad_x, x.shape(), x.device())?))
    }
}
