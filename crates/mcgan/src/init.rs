//! Seeded initialisation of network weights, following the authors' recipe.

use candle_core::{Result, Tensor};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Standard deviation of the normal draw for convolution weights.
const WEIGHT_STD: f32 = 0.02;

/// Redraws every variable of `varmap` from a generator seeded with `seed`.
///
/// Convolution weights (rank 4, named `*.weight`) are drawn from N(0, 0.02). Biases keep
/// PyTorch's default for convolutions, uniform in +-1/sqrt(fan_in), where `fan_in` is the
/// product of the weight's dimensions after the first: `in * kh * kw` for a convolution and,
/// as in PyTorch, `out * kh * kw` for a transposed one. Variables are visited in name order,
/// so the result depends only on the seed and the set of names.
pub fn init_weights(varmap: &VarMap, seed: u64) -> Result<()> {
    let variables = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("the variable map's lock is poisoned".into()))?;
    let mut names: Vec<&String> = variables.keys().collect();
    names.sort();

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, WEIGHT_STD).map_err(candle_core::Error::wrap)?;
    for name in names {
        let var = &variables[name];
        let shape = var.shape().clone();
        let count = shape.elem_count();
        let values: Vec<f32> = if let Some(layer) = name.strip_suffix(".bias") {
            let weight_name = format!("{layer}.weight");
            let Some(weight) = variables.get(&weight_name) else {
                candle_core::bail!(
                    "bias {name} has no weight {weight_name} to take its fan-in from"
                );
            };
            let fan_in: usize = weight.dims().iter().skip(1).product();
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..count)
                .map(|_| rng.random_range(-bound..bound))
                .collect()
        } else {
            (0..count).map(|_| normal.sample(&mut rng)).collect()
        };
        let values = Tensor::from_vec(values, shape, var.device())?.to_dtype(var.dtype())?;
        var.set(&values)?;
    }
    Ok(())
}
