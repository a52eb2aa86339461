//! The three preprocessing conventions of the reference FID tools: 8-bit RGB of any size to
//! the network's 299x299 float32 input in [-1, 1].
//!
//! | mode | source | resize | scaling |
//! | --- | --- | --- | --- |
//! | `ttur` | TTUR `fid.py` (the paper's tool), whose TensorFlow graph resizes inside | TF1 bilinear, no half-pixel centres, on 0..255 | `(v - 128) / 128` |
//! | `pytorch-fid` | pytorch-fid 0.3.0 `InceptionV3.forward` | `/ 255`, then bilinear with half-pixel centres | `2x - 1` |
//! | `clean` | clean-fid 0.1.35 `clean` mode | Pillow antialiased bicubic per channel on 0..255, clipped to [0, 255] | `(v - 128) / 128` |
//!
//! None of them rounds to 8 bits after resizing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::architecture::INPUT_SIZE;
use crate::bicubic;
use crate::bilinear::{self, SampleGrid};
use crate::error::InceptionError;

/// How images become network input; see the module documentation for each mode's source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preprocess {
    /// TTUR / TensorFlow 1 (the default: the tool the paper's FID values come from).
    #[default]
    Ttur,
    /// pytorch-fid.
    PytorchFid,
    /// clean-fid's `clean` mode.
    Clean,
}

impl Preprocess {
    /// The mode's command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Preprocess::Ttur => "ttur",
            Preprocess::PytorchFid => "pytorch-fid",
            Preprocess::Clean => "clean",
        }
    }

    /// Turns interleaved 8-bit RGB (`height x width x 3`) into planar `3 x 299 x 299`
    /// network input, written to `out`.
    pub fn prepare(
        self,
        rgb: &[u8],
        height: usize,
        width: usize,
        out: &mut [f32],
    ) -> Result<(), InceptionError> {
        let plane_size = INPUT_SIZE * INPUT_SIZE;
        if height == 0 || width == 0 || rgb.len() != height * width * 3 {
            return Err(InceptionError::InvalidInput(format!(
                "{} RGB bytes do not form a non-empty {height}x{width} image",
                rgb.len()
            )));
        }
        if out.len() != 3 * plane_size {
            return Err(InceptionError::InvalidInput(format!(
                "output buffer holds {} values, expected 3 x {INPUT_SIZE} x {INPUT_SIZE}",
                out.len()
            )));
        }

        for (channel, destination) in out.chunks_exact_mut(plane_size).enumerate() {
            let plane: Vec<f32> = rgb
                .iter()
                .skip(channel)
                .step_by(3)
                .map(|&v| f32::from(v))
                .collect();
            let resized = match self {
                Preprocess::Ttur => bilinear::resize_plane(
                    &plane,
                    height,
                    width,
                    INPUT_SIZE,
                    INPUT_SIZE,
                    SampleGrid::TopLeft,
                ),
                Preprocess::PytorchFid => {
                    // torchvision's ToTensor divides before interpolating; keep that order.
                    let unit: Vec<f32> = plane.iter().map(|&v| v / 255.0).collect();
                    bilinear::resize_plane(
                        &unit,
                        height,
                        width,
                        INPUT_SIZE,
                        INPUT_SIZE,
                        SampleGrid::HalfPixel,
                    )
                }
                Preprocess::Clean => {
                    bicubic::resize_plane(&plane, height, width, INPUT_SIZE, INPUT_SIZE)
                }
            };
            for (target, value) in destination.iter_mut().zip(resized) {
                *target = match self {
                    // Bit-identical to `v / 128 - 1` in float32, and the graph's own order.
                    Preprocess::Ttur => (value - 128.0) * 0.0078125,
                    Preprocess::PytorchFid => 2.0 * value - 1.0,
                    Preprocess::Clean => (value.clamp(0.0, 255.0) - 128.0) / 128.0,
                };
            }
        }
        Ok(())
    }
}

impl fmt::Display for Preprocess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Preprocess {
    type Err = InceptionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "ttur" => Ok(Preprocess::Ttur),
            "pytorch-fid" => Ok(Preprocess::PytorchFid),
            "clean" => Ok(Preprocess::Clean),
            other => Err(InceptionError::UnknownMode(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_from_names() {
        for mode in [Preprocess::Ttur, Preprocess::PytorchFid, Preprocess::Clean] {
            assert_eq!(mode.as_str().parse::<Preprocess>().ok(), Some(mode));
        }
        assert!("tf".parse::<Preprocess>().is_err());
    }

    #[test]
    fn white_maps_to_each_mode_maximum() {
        let rgb = vec![255u8; 4 * 4 * 3];
        let mut out = vec![0f32; 3 * INPUT_SIZE * INPUT_SIZE];
        for (mode, expected) in [
            (Preprocess::Ttur, 0.9921875),
            (Preprocess::PytorchFid, 1.0),
            (Preprocess::Clean, 0.9921875),
        ] {
            mode.prepare(&rgb, 4, 4, &mut out).expect("valid image");
            assert!(
                out.iter().all(|&value| value == expected),
                "{mode}: {:?}",
                &out[..4]
            );
        }
    }
}
