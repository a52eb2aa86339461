//! Pairwise score matrices among the five image sets of one side and training scheme.

use std::fmt;

/// The five sets compared, in matrix order: translations with each centered mask, then
/// the real training and test images of the side.
pub const SET_LABELS: [&str; 5] = ["scale=0.50", "scale=0.80", "scale=1.00", "train", "test"];

/// Labels of the translation sets, the first three of [`SET_LABELS`].
pub const SCALE_LABELS: [&str; 3] = ["scale=0.50", "scale=0.80", "scale=1.00"];

/// Domain whose images a matrix compares: side A holds translations into A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    A,
    B,
}

impl fmt::Display for Side {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// A symmetric 5x5 matrix of FID (or KID) between the sets of [`SET_LABELS`] for one
/// training scheme and side; a missing pair is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairwiseMatrix {
    /// Masks the model was trained with, such as `centered-square` or `multi-rectangles`.
    pub training_masks: String,
    pub side: Side,
    values: [[Option<f64>; 5]; 5],
}

impl PairwiseMatrix {
    /// Creates a matrix with no values.
    pub fn new(training_masks: impl Into<String>, side: Side) -> Self {
        PairwiseMatrix {
            training_masks: training_masks.into(),
            side,
            values: [[None; 5]; 5],
        }
    }

    /// Sets the score between two sets given by label, on both sides of the diagonal.
    pub fn set(&mut self, first: &str, second: &str, value: f64) -> Result<(), String> {
        let row = set_index(first)?;
        let column = set_index(second)?;
        self.values[row][column] = Some(value);
        self.values[column][row] = Some(value);
        Ok(())
    }

    /// Returns the score between two sets given by label, if present.
    pub fn get(&self, first: &str, second: &str) -> Option<f64> {
        let row = set_index(first).ok()?;
        let column = set_index(second).ok()?;
        self.values[row][column]
    }

    /// Returns the score at matrix position `row`, `column`.
    pub fn at(&self, row: usize, column: usize) -> Option<f64> {
        self.values[row][column]
    }

    /// Returns the pairs below the diagonal, row-major: `(row, column, value)`.
    pub fn lower_triangle(&self) -> Vec<(usize, usize, Option<f64>)> {
        let mut cells = Vec::new();
        for row in 1..5 {
            for column in 0..row {
                cells.push((row, column, self.values[row][column]));
            }
        }
        cells
    }

    /// Returns the smallest and largest values below the diagonal.
    pub fn value_range(&self) -> Option<(f64, f64)> {
        let values = self.lower_triangle().into_iter().filter_map(|cell| cell.2);
        values.fold(None, |range, value| match range {
            None => Some((value, value)),
            Some((low, high)) => Some((low.min(value), high.max(value))),
        })
    }
}

/// Finds the matrix of `training_masks` and `side` in `matrices`.
pub fn find_matrix<'a>(
    matrices: &'a [PairwiseMatrix],
    training_masks: &str,
    side: Side,
) -> Option<&'a PairwiseMatrix> {
    matrices
        .iter()
        .find(|matrix| matrix.training_masks == training_masks && matrix.side == side)
}

fn set_index(label: &str) -> Result<usize, String> {
    SET_LABELS
        .iter()
        .position(|known| *known == label)
        .ok_or_else(|| format!("unknown set `{label}`; expected one of {SET_LABELS:?}"))
}
