//! Round masks: centered discs, used to probe the centered-square model (paper Figure 7).

use crate::Mask;

/// A centered disc whose radius is `radius` times half the side.
///
/// A pixel is masked when its centre `(row + 0.5, column + 0.5)` lies within the disc
/// centred at `(size / 2, size / 2)` in continuous coordinates, so the disc is symmetric
/// for odd and even sizes alike and radius 1.0 touches the middle of each edge.
pub fn round(size: usize, radius: f64) -> Mask {
    let centre = size as f64 / 2.0;
    let radius_pixels = radius * centre;
    let mut values = vec![0u8; size * size];
    for row in 0..size {
        let dy = row as f64 + 0.5 - centre;
        for column in 0..size {
            let dx = column as f64 + 0.5 - centre;
            if dx * dx + dy * dy <= radius_pixels * radius_pixels {
                values[row * size + column] = 1;
            }
        }
    }
    Mask::from_values(size, values).expect("values are 0 or 1 and size * size long")
}
