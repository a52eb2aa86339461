//! Reflection padding of the two spatial dimensions, differentiable through candle's autograd.

use candle_core::{Result, Tensor};

use crate::cpu_kernels::reflection_pad::ReflectionPadOp;

/// Pads the last two dimensions of an NCHW tensor by `pad` on each side, mirroring without
/// repeating the edge: `[a b c d]` padded by 2 becomes `[c b a b c d c b]`.
///
/// On the CPU this is one gather per element; elsewhere [`reflection_pad2d_tensor_ops`].
pub fn reflection_pad2d(x: &Tensor, pad: usize) -> Result<Tensor> {
    if pad > 0 && crate::cpu_kernels::applies_to(x) {
        return x.contiguous()?.apply_op1(ReflectionPadOp { pad });
    }
    reflection_pad2d_tensor_ops(x, pad)
}

/// [`reflection_pad2d`] from candle tensor operations, for every device: each dimension is one
/// `index_select` with mirrored indices, so the backward pass is the matching `index_add`
/// that candle derives on its own.
pub fn reflection_pad2d_tensor_ops(x: &Tensor, pad: usize) -> Result<Tensor> {
    if pad == 0 {
        return Ok(x.clone());
    }
    let (_, _, height, width) = x.dims4()?;
    if pad >= height || pad >= width {
        candle_core::bail!(
            "reflection padding {pad} needs a spatial size above it, got {height}x{width}"
        );
    }
    let rows = mirrored_indices(height, pad, x.device())?;
    let columns = mirrored_indices(width, pad, x.device())?;
    x.index_select(&columns, 3)?.index_select(&rows, 2)
}

/// Source index of every position of a dimension of `len` padded by `pad` on both sides.
fn mirrored_indices(len: usize, pad: usize, device: &candle_core::Device) -> Result<Tensor> {
    let last = len as i64 - 1;
    let indices: Vec<u32> = (-(pad as i64)..len as i64 + pad as i64)
        .map(|i| {
            let reflected = if i < 0 {
                -i
            } else if i > last {
                2 * last - i
            } else {
                i
            };
            reflected as u32
        })
        .collect();
    Tensor::from_vec(indices, len + 2 * pad, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn pad_two_mirrors_without_edge() {
        let x = Tensor::new(&[1f32, 2., 3., 4., 5.], &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 1, 5))
            .unwrap();
        let x = x.broadcast_as((1, 1, 3, 5)).unwrap().contiguous().unwrap();
        let y = reflection_pad2d(&x, 2).unwrap();
        let row: Vec<f32> = y
            .get(0)
            .unwrap()
            .get(0)
            .unwrap()
            .get(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(row, vec![3., 2., 1., 2., 3., 4., 5., 4., 3.]);
    }
}
