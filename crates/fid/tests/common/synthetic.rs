//! The synthetic full-rank feature sets of the reference fixtures (`fid.json`,
//! `synthetic_3000x2048`): standard normals from splitmix64 in counter form, 53-bit uniforms
//! and Box-Muller, so Rust and numpy produce the same matrices.

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix64(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN_GAMMA));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn uniform(seed: u64, index: u64) -> f64 {
    ((splitmix64(seed, index) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Returns the first `count` standard normals of the stream `seed`.
pub fn normals(seed: u64, count: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count + 1);
    let mut pair = 0u64;
    while out.len() < count {
        let u1 = uniform(seed, 2 * pair);
        let u2 = uniform(seed, 2 * pair + 1);
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * u2;
        out.push(radius * angle.cos());
        out.push(radius * angle.sin());
        pair += 1;
    }
    out.truncate(count);
    out
}

/// Set 1: `A[i, j] = N1[i * d + j]`.
pub fn first_set(rows: usize, dim: usize, seed: u64) -> Vec<f64> {
    normals(seed, rows * dim)
}

/// Set 2: `B[i, j] = (1 + j / d) Z[i, j] + 0.5 Z[i, (j + 1) mod d] + 0.01 (j mod 7)`.
pub fn second_set(rows: usize, dim: usize, seed: u64) -> Vec<f64> {
    let z = normals(seed, rows * dim);
    let mut out = Vec::with_capacity(rows * dim);
    for i in 0..rows {
        for j in 0..dim {
            let value = (1.0 + j as f64 / dim as f64) * z[i * dim + j]
                + 0.5 * z[i * dim + (j + 1) % dim]
                + 0.01 * (j % 7) as f64;
            out.push(value);
        }
    }
    out
}
