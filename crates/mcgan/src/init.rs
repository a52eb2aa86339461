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

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::Init;

    use super::*;

    /// Builds a map with one 3x3 convolution of 32 -> 64 channels, all zero.
    fn conv_varmap() -> VarMap {
        let varmap = VarMap::new();
        let zero = Init::Const(0.0);
        varmap
            .get(
                (64, 32, 3, 3),
                "conv.weight",
                zero,
                DType::F32,
                &Device::Cpu,
            )
            .unwrap();
        varmap
            .get(64, "conv.bias", zero, DType::F32, &Device::Cpu)
            .unwrap();
        varmap
    }

    fn values(varmap: &VarMap, name: &str) -> Vec<f32> {
        let variables = varmap.data().lock().unwrap();
        variables[name]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn weights_are_normal_with_std_002() {
        let varmap = conv_varmap();
        init_weights(&varmap, 7).unwrap();
        let weights = values(&varmap, "conv.weight");
        let n = weights.len() as f64;
        let mean = weights.iter().map(|&w| f64::from(w)).sum::<f64>() / n;
        let variance = weights
            .iter()
            .map(|&w| (f64::from(w) - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        // 18,432 draws: the standard errors of the mean and of the standard deviation are
        // about 1.5e-4 and 1.0e-4, so these bounds are more than four standard errors wide.
        assert!(mean.abs() < 6e-4, "mean {mean}");
        assert!(
            (variance.sqrt() - 0.02).abs() < 5e-4,
            "std {}",
            variance.sqrt()
        );
    }

    #[test]
    fn biases_stay_within_fan_in_bound() {
        let varmap = conv_varmap();
        init_weights(&varmap, 7).unwrap();
        let biases = values(&varmap, "conv.bias");
        let bound = 1.0 / (32.0f32 * 9.0).sqrt();
        assert!(biases.iter().all(|b| b.abs() < bound), "{biases:?}");
        let spread = biases.iter().fold(0f32, |max, b| max.max(b.abs()));
        assert!(spread > 0.5 * bound, "biases span the range: {spread}");
    }

    #[test]
    fn seed_decides_the_values() {
        let (first, second, other) = (conv_varmap(), conv_varmap(), conv_varmap());
        init_weights(&first, 3).unwrap();
        init_weights(&second, 3).unwrap();
        init_weights(&other, 4).unwrap();
        assert_eq!(
            values(&first, "conv.weight"),
            values(&second, "conv.weight")
        );
        assert_eq!(values(&first, "conv.bias"), values(&second, "conv.bias"));
        assert_ne!(values(&first, "conv.weight"), values(&other, "conv.weight"));
    }

    #[test]
    fn bias_without_weight_is_an_error() {
        let varmap = VarMap::new();
        varmap
            .get(8, "lonely.bias", Init::Const(0.0), DType::F32, &Device::Cpu)
            .unwrap();
        let error = init_weights(&varmap, 0).unwrap_err();
        assert!(error.to_string().contains("lonely.weight"), "{error}");
    }
}
