//! Training-time mask sampling: one mask per iteration.

use rand::Rng;

use crate::{centered_square, Mask, MaskError, MultiRectangles};

/// Source of the masks a [`MaskSampler`] draws.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplerConfig {
    /// Always the full mask (plain CycleGAN behaviour through the masked generator).
    Full,
    /// A centered square of one of the scales, drawn uniformly (0.5, 0.8, 1.0 in the
    /// paper's Figure 4 model).
    CenteredSquare { scales: Vec<f64> },
    /// A fresh multi-rectangle mask.
    MultiRectangles(MultiRectangles),
    /// One mask of a bank, drawn uniformly.
    Bank(Vec<Mask>),
}

/// Draws one mask per training iteration from a [`SamplerConfig`].
#[derive(Debug, Clone)]
pub struct MaskSampler {
    size: usize,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Full(Mask),
    Fixed(Vec<Mask>),
    MultiRectangles(MultiRectangles),
}

impl MaskSampler {
    /// Prepares a sampler for `size x size` masks.
    pub fn new(config: SamplerConfig, size: usize) -> Result<Self, MaskError> {
        let source = match config {
            SamplerConfig::Full => Source::Full(Mask::full(size)),
            SamplerConfig::CenteredSquare { scales } => {
                if scales.is_empty() {
                    return Err(MaskError::InvalidParams(
                        "the centered-square sampler needs at least one scale".into(),
                    ));
                }
                let masks = scales
                    .iter()
                    .map(|&scale| centered_square(size, scale))
                    .collect();
                Source::Fixed(masks)
            }
            SamplerConfig::MultiRectangles(settings) => {
                settings.check_size(size)?;
                Source::MultiRectangles(settings)
            }
            SamplerConfig::Bank(masks) => {
                if masks.is_empty() {
                    return Err(MaskError::InvalidParams("the mask bank is empty".into()));
                }
                if let Some(mask) = masks.iter().find(|mask| mask.size() != size) {
                    return Err(MaskError::InvalidParams(format!(
                        "the bank holds {0}x{0} masks but training runs at {size}x{size}; \
                         make the bank with size {size}",
                        mask.size()
                    )));
                }
                Source::Fixed(masks)
            }
        };
        Ok(MaskSampler { size, source })
    }

    /// Side length of the masks drawn.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Draws the mask of one iteration.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Mask {
        match &self.source {
            Source::Full(mask) => mask.clone(),
            Source::Fixed(masks) => masks[rng.random_range(0..masks.len())].clone(),
            Source::MultiRectangles(settings) => settings.sample(self.size, rng).mask,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn centered_sampler_draws_every_scale() {
        let scales = vec![0.5, 0.8, 1.0];
        let sampler = MaskSampler::new(
            SamplerConfig::CenteredSquare {
                scales: scales.clone(),
            },
            32,
        )
        .unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let expected: Vec<Mask> = scales.iter().map(|&s| centered_square(32, s)).collect();
        let mut seen = [0usize; 3];
        for _ in 0..300 {
            let mask = sampler.sample(&mut rng);
            let position = expected.iter().position(|e| *e == mask).unwrap();
            seen[position] += 1;
        }
        for count in seen {
            assert!((70..=130).contains(&count), "counts {seen:?}");
        }
    }

    #[test]
    fn bank_sampler_rejects_other_size() {
        let config = SamplerConfig::Bank(vec![Mask::full(16)]);
        assert!(MaskSampler::new(config, 32).is_err());
    }
}
