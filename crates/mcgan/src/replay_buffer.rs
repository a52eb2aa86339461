//! Replay buffer of past generator outputs, shown to a discriminator in place of the newest fake.

use candle_core::{Result, Tensor};
use rand::Rng;

/// Capacity of each replay buffer in the reference training code.
pub const REPLAY_BUFFER_CAPACITY: usize = 50;

/// Past fakes for one discriminator, applied per image of a batch.
///
/// While the buffer holds fewer than `capacity` images, each new image is stored and returned.
/// Once it is full, with probability 1/2 a uniformly chosen stored image is returned and the new
/// image takes its place; otherwise the new image is returned and the buffer is unchanged.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    capacity: usize,
    images: Vec<Tensor>,
}

impl ReplayBuffer {
    /// Creates an empty buffer holding at most `capacity` images.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            images: Vec::with_capacity(capacity),
        }
    }

    /// Restores a buffer from stored images of shape `[1, C, H, W]`, oldest slot first.
    pub fn from_images(capacity: usize, images: Vec<Tensor>) -> Self {
        Self { capacity, images }
    }

    /// Stored images, in slot order.
    pub fn images(&self) -> &[Tensor] {
        &self.images
    }

    /// Maximum number of stored images.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Pushes each image of `batch` (`[N, C, H, W]`, detached here) and returns the batch the
    /// discriminator sees, drawing the coin flips and slots from `rng`.
    pub fn push_and_pop<R: Rng>(&mut self, batch: &Tensor, rng: &mut R) -> Result<Tensor> {
        let batch = batch.detach();
        let count = batch.dim(0)?;
        let mut shown = Vec::with_capacity(count);
        for index in 0..count {
            let image = batch.narrow(0, index, 1)?;
            shown.push(self.push_one(image, rng));
        }
        Tensor::cat(&shown, 0)
    }

    fn push_one<R: Rng>(&mut self, image: Tensor, rng: &mut R) -> Tensor {
        if self.images.len() < self.capacity {
            self.images.push(image.clone());
            return image;
        }
        if rng.random_bool(0.5) {
            let slot = rng.random_range(0..self.capacity);
            // Tensors are immutable, so handing out the stored one is the same as a copy.
            return std::mem::replace(&mut self.images[slot], image);
        }
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn image(value: f32) -> Tensor {
        Tensor::full(value, (1, 1, 2, 2), &Device::Cpu).unwrap()
    }

    fn first_value(tensor: &Tensor) -> f32 {
        tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]
    }

    #[test]
    fn filling_buffer_returns_new_images() {
        let mut buffer = ReplayBuffer::new(3);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for value in [1.0, 2.0, 3.0] {
            let shown = buffer.push_and_pop(&image(value), &mut rng).unwrap();
            assert_eq!(first_value(&shown), value);
        }
        assert_eq!(buffer.images().len(), 3);
    }

    #[test]
    fn full_buffer_swaps_about_half() {
        let capacity = 4;
        let mut buffer = ReplayBuffer::new(capacity);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for value in 0..capacity {
            buffer.push_and_pop(&image(value as f32), &mut rng).unwrap();
        }
        let pushes = 2000;
        let mut swapped = 0;
        for step in 0..pushes {
            let value = 100.0 + step as f32;
            let before: Vec<f32> = buffer.images().iter().map(first_value).collect();
            let shown = first_value(&buffer.push_and_pop(&image(value), &mut rng).unwrap());
            let after: Vec<f32> = buffer.images().iter().map(first_value).collect();
            if shown == value {
                assert_eq!(
                    before, after,
                    "an unswapped push must leave the buffer alone"
                );
                continue;
            }
            swapped += 1;
            let slot = before.iter().position(|&stored| stored == shown).unwrap();
            assert_eq!(
                after[slot], value,
                "the new image takes the returned one's slot"
            );
        }
        let fraction = swapped as f64 / pushes as f64;
        assert!((0.45..0.55).contains(&fraction), "swap fraction {fraction}");
    }

    #[test]
    fn batch_is_pushed_per_image() {
        let mut buffer = ReplayBuffer::new(50);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let batch = Tensor::cat(&[image(1.0), image(2.0)], 0).unwrap();
        let shown = buffer.push_and_pop(&batch, &mut rng).unwrap();
        assert_eq!(shown.dims(), &[2, 1, 2, 2]);
        assert_eq!(buffer.images().len(), 2);
    }
}
