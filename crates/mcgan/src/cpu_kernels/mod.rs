//! CPU kernels for the layers that dominate a training step, as candle custom ops with their
//! own backward passes: convolutions and transposed convolutions (laid out by windows, by taps
//! or by Winograd's transform, see [`conv`]), instance norm with an optional fused activation,
//! ReLU and LeakyReLU, and reflection padding.
//!
//! candle 0.11's CPU path computes a transposed convolution, and so the input gradient of
//! every convolution, with one dot product per output pixel, and the weight gradient as a
//! convolution whose kernel is the whole output gradient; elementwise layers cost a pass and
//! an allocation per primitive. These kernels lay every image's column matrix out as
//! `[C*kh*kw, Ho*Wo]`, so `W [O, C*kh*kw]` times it is the NCHW output directly, and reuse
//! that layout for both gradients. They run for float32 CPU tensors; other devices use
//! candle's own operations.

pub mod activation;
pub mod conv;
pub mod im2col;
pub mod instance_norm;
pub mod reflection_pad;
pub mod winograd;

use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};
use rayon::prelude::*;

/// Lets the idle threads of candle's CPU pool spin 200 times before they sleep, unless
/// `CANDLE_BARRIER_POOL_SPIN_LIMIT` is already set. Call it first in `main`, before any thread
/// starts.
///
/// candle splits elementwise operations over a pool of its own, whose threads spin 25,000
/// times after each operation by default. Beside rayon's pool, which runs these kernels, they
/// hold the cores the convolutions need. On the 2-core machine one training iteration took
/// about 10% less time at 64 pixels and 4% less at 128 with the shorter spin, and less than
/// with candle's pool switched off (`CANDLE_NUM_THREADS=1`).
pub fn shorten_candle_spinning() {
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", "200");
    }
}

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

/// Elements summed in float32 before the partial sum joins the float64 total.
const BLOCK: usize = 256;

/// Independent float32 accumulators within a block, so that the sum vectorises instead of
/// waiting on one chain of additions.
const LANES: usize = 16;

/// Sums `f(a, b)` over the pairs of `a` and `b`: float32 within blocks of [`BLOCK`] elements
/// in [`LANES`] interleaved partial sums, float64 across blocks.
fn blocked_sum_of(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    a.chunks(BLOCK)
        .zip(b.chunks(BLOCK))
        .map(|(a, b)| {
            let mut lanes = [0f32; LANES];
            let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
            let tail: f32 = a_chunks
                .remainder()
                .iter()
                .zip(b_chunks.remainder())
                .map(|(&x, &y)| f(x, y))
                .sum();
            for (a, b) in a_chunks.zip(b_chunks) {
                for ((lane, &x), &y) in lanes.iter_mut().zip(a).zip(b) {
                    *lane += f(x, y);
                }
            }
            f64::from(lanes.iter().sum::<f32>() + tail)
        })
        .sum()
}

/// Sums `values` as [`blocked_sum_of`] does.
fn blocked_sum(values: &[f32]) -> f64 {
    blocked_sum_of(values, values, |v, _| v)
}

/// Elements below which one thread zeroes a buffer faster than several.
const SERIAL_ZEROES: usize = 1 << 16;

/// Returns `len` zeros. A large buffer is zeroed by every thread, since a single-threaded
/// pass over the activations of each layer adds up to a noticeable share of a step.
fn zeroed(len: usize) -> Vec<f32> {
    if len < SERIAL_ZEROES {
        return vec![0f32; len];
    }
    let mut buffer = Vec::with_capacity(len);
    buffer.par_extend(rayon::iter::repeat_n(0f32, len));
    buffer
}

/// Returns `len` elements computed a plane at a time in parallel: `fill(index, plane)` gets
/// plane `index`, `plane_len` elements, zeroed just before, while they are in cache, instead
/// of in a pass over the whole buffer beforehand.
fn by_planes(len: usize, plane_len: usize, fill: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    assert!(
        plane_len > 0 || len == 0,
        "planes of a non-empty buffer are empty"
    );
    let mut values = Vec::with_capacity(len);
    if len > 0 {
        values.spare_capacity_mut()[..len]
            .par_chunks_mut(plane_len)
            .enumerate()
            .for_each(|(index, chunk)| {
                chunk.fill(std::mem::MaybeUninit::new(0.0));
                // SAFETY: every element of `chunk` is initialised now, and `MaybeUninit<f32>`
                // has the layout of `f32`.
                let plane =
                    unsafe { &mut *(chunk as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) };
                fill(index, plane);
            });
    }
    // SAFETY: the loop above initialised the first `len` elements.
    unsafe { values.set_len(len) };
    values
}

/// A float32 scratch buffer, taken from a per-thread pool and given back on drop.
///
/// The large column matrices of successive layers reuse its memory instead of faulting in
/// fresh pages on every call. Its contents are stale, so callers overwrite them.
struct Scratch {
    buffer: Vec<f32>,
    len: usize,
}

thread_local! {
    static SCRATCH_POOL: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Buffers a thread keeps between calls. The Winograd backward pass uses four at once.
const SCRATCH_KEPT: usize = 4;

impl Scratch {
    fn take(len: usize) -> Self {
        let mut buffer = SCRATCH_POOL
            .with(|pool| {
                let mut pool = pool.borrow_mut();
                let best = (0..pool.len()).max_by_key(|&i| pool[i].len())?;
                Some(pool.swap_remove(best))
            })
            .unwrap_or_default();
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        Self { buffer, len }
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        &self.buffer[..self.len]
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buffer[..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        SCRATCH_POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < SCRATCH_KEPT {
                pool.push(buffer);
            }
        });
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

    /// Returns the same strides starting `offset` elements further into the data.
    fn offset_by(self, offset: usize) -> Self {
        Self {
            data: &self.data[offset..],
            ..self
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

/// Multiply-adds below which a product runs on one thread: splitting it costs more than
/// it saves.
const SERIAL_WORK: usize = 1 << 18;

/// Rows or columns below which a part of a split product packs poorly.
const MIN_PART: usize = 16;

/// `dst [m, n] (+)= lhs [m, k] @ rhs [k, n]`, with `dst` row-major; accumulates into `dst`
/// when `accumulate`, overwrites it otherwise.
///
/// A large product is cut into one block of rows per thread (of columns, when `m` is the
/// smaller side), and each block is a single-threaded gemm. On few cores this keeps every
/// thread busy on a well-shaped block. gemm's own parallel split of a product with a small
/// side measured slower than one thread on the 2-core machine.
fn gemm(m: usize, n: usize, k: usize, dst: &mut [f32], accumulate: bool, lhs: Matrix, rhs: Matrix) {
    gemm_on(
        rayon::current_num_threads(),
        m,
        n,
        k,
        dst,
        accumulate,
        lhs,
        rhs,
    );
}

/// [`gemm`] on the calling thread only, for products that already run side by side.
fn gemm_serial(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
) {
    gemm_on(1, m, n, k, dst, accumulate, lhs, rhs);
}

/// [`gemm`] cut into at most `threads` blocks.
#[allow(clippy::too_many_arguments)]
fn gemm_on(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
) {
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
    let split_rows = m >= n;
    let side = if split_rows { m } else { n };
    let parts = threads.min(side / MIN_PART).max(1);
    if parts == 1 || m * n * k < SERIAL_WORK {
        // SAFETY: the asserts above keep every element the views address inside their
        // slices, and `dst` is borrowed mutably, so it aliases neither operand.
        unsafe { gemm_block(m, n, k, dst.as_mut_ptr(), n, accumulate, lhs, rhs) };
        return;
    }
    let destination = SendPtr(dst.as_mut_ptr());
    (0..parts).into_par_iter().for_each(|part| {
        let (start, end) = (part * side / parts, (part + 1) * side / parts);
        let destination = &destination;
        // SAFETY: part `part` writes rows (or columns) `start..end` of `dst` only, so the
        // parts touch disjoint elements. Each operand view starts at the rows or columns that
        // part reads, and the asserts above keep them inside the operand slices.
        unsafe {
            if split_rows {
                let lhs = lhs.offset_by(start * lhs.row_stride);
                let dst = destination.0.add(start * n);
                gemm_block(end - start, n, k, dst, n, accumulate, lhs, rhs);
            } else {
                let rhs = rhs.offset_by(start * rhs.column_stride);
                let dst = destination.0.add(start);
                gemm_block(m, end - start, k, dst, n, accumulate, lhs, rhs);
            }
        }
    });
}

/// A pointer shared by the threads of one split product, each writing its own elements.
struct SendPtr(*mut f32);

// SAFETY: the threads sharing a `SendPtr` write disjoint elements through it.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// Runs one single-threaded gemm into the row-major block at `dst` with `dst_row_stride`.
///
/// # Safety
/// `dst` must address `m` rows of `n` writable elements `dst_row_stride` apart that no
/// other thread touches, and `lhs` and `rhs` must hold `[m, k]` and `[k, n]` views.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_block(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_row_stride as isize,
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
        gemm::Parallelism::None,
    );
}
