//! CPU kernels for the layers that dominate a training step, as candle custom ops with their
//! own backward passes: convolutions and transposed convolutions (im2col and one gemm per
//! image, bias folded in), instance norm with an optional fused ReLU, and reflection padding.
//!
//! candle 0.11's CPU path computes a transposed convolution, and so the input gradient of
//! every convolution, with one dot product per output pixel, and the weight gradient as a
//! convolution whose kernel is the whole output gradient; elementwise layers cost a pass and
//! an allocation per primitive. These kernels lay every image's column matrix out as
//! `[C*kh*kw, Ho*Wo]`, so `W [O, C*kh*kw]` times it is the NCHW output directly, and reuse
//! that layout for both gradients. They run for float32 CPU tensors; other devices use
//! candle's own operations.

pub mod conv;
pub mod im2col;
pub mod instance_norm;
pub mod reflection_pad;

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};

/// Whether `x` takes the CPU kernels: float32 data in host memory.
pub fn applies_to(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == candle_core::DType::F32
}

/// The float32 elements of a contiguous CPU storage as laid out by `layout`.
fn contiguous_slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("a CPU kernel received a non-contiguous tensor");
    };
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// Runs `f` on the float32 elements of `tensor`, made contiguous first if needed.
fn with_f32<R>(tensor: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let tensor = tensor.contiguous()?;
    let (storage, layout) = tensor.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(contiguous_slice(cpu, layout)?),
        _ => candle_core::bail!("a CPU kernel received a tensor on another device"),
    }
}

/// A row-major matrix view for [`gemm`]: data and strides between rows and between columns.
#[derive(Clone, Copy)]
struct Matrix<'a> {
    data: &'a [f32],
    row_stride: usize,
    column_stride: usize,
}

impl<'a> Matrix<'a> {
    fn row_major(data: &'a [f32], columns: usize) -> Self {
        Self {
            data,
            row_stride: columns,
            column_stride: 1,
        }
    }

    /// The transpose of the row-major `[rows, columns]` matrix stored in `data`.
    fn transposed(data: &'a [f32], columns: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            column_stride: columns,
        }
    }

    /// Index one past the last element the `rows x columns` view reads.
    fn extent(&self, rows: usize, columns: usize) -> usize {
        if rows == 0 || columns == 0 {
            return 0;
        }
        (rows - 1) * self.row_stride + (columns - 1) * self.column_stride + 1
    }
}

/// `dst [m, n] (+)= lhs [m, k] @ rhs [k, n]`, with `dst` row-major; accumulates into `dst`
/// when `accumulate`, overwrites it otherwise.
fn gemm(m: usize, n: usize, k: usize, dst: &mut [f32], accumulate: bool, lhs: Matrix, rhs: Matrix) {
    assert!(dst.len() >= m * n, "gemm destination too small");
    assert!(
        lhs.data.len() >= lhs.extent(m, k),
        "gemm left operand too small"
    );
    assert!(
        rhs.data.len() >= rhs.extent(k, n),
        "gemm right operand too small"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every element the three views address inside their
    // slices, and `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.column_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.column_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
