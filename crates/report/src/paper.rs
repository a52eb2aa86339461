//! The paper's FID matrices (Figures 4 and 5), embedded from `data/paper_fid_matrices.csv`.

use crate::{PairwiseMatrix, Side};

const PAPER_FID_CSV: &str = include_str!("../data/paper_fid_matrices.csv");

/// Training schemes of the paper's two figures, in figure order.
pub const PAPER_TRAINING_MASKS: [&str; 2] = ["centered-square", "multi-rectangles"];

/// Returns the paper's four FID matrices: centered-square A and B, multi-rectangles A and B.
pub fn paper_fid_matrices() -> Vec<PairwiseMatrix> {
    parse_fid_csv(PAPER_FID_CSV).expect("the embedded paper table is well formed")
}

/// Parses the long CSV form `figure,training_masks,side,row,column,fid`; lines starting
/// with `#` are comments.
pub fn parse_fid_csv(text: &str) -> Result<Vec<PairwiseMatrix>, String> {
    let mut matrices: Vec<PairwiseMatrix> = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.starts_with('#') && !line.trim().is_empty());
    let header = lines.next().map(|(_, line)| line);
    if header != Some("figure,training_masks,side,row,column,fid") {
        return Err(format!("unexpected header {header:?}"));
    }
    for (number, line) in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let [_, training_masks, side, row, column, fid] = fields[..] else {
            return Err(format!("line {}: expected 6 fields: {line}", number + 1));
        };
        let side = match side {
            "A" => Side::A,
            "B" => Side::B,
            other => return Err(format!("line {}: unknown side `{other}`", number + 1)),
        };
        let fid: f64 = fid
            .parse()
            .map_err(|error| format!("line {}: invalid FID `{fid}`: {error}", number + 1))?;
        let position = matrices
            .iter()
            .position(|matrix| matrix.training_masks == training_masks && matrix.side == side);
        let matrix = match position {
            Some(position) => &mut matrices[position],
            None => {
                matrices.push(PairwiseMatrix::new(training_masks, side));
                matrices.last_mut().expect("just pushed")
            }
        };
        matrix
            .set(row, column, fid)
            .map_err(|error| format!("line {}: {error}", number + 1))?;
    }
    Ok(matrices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_table_has_four_full_matrices() {
        let matrices = paper_fid_matrices();
        assert_eq!(matrices.len(), 4);
        for matrix in &matrices {
            assert!(matrix.lower_triangle().iter().all(|cell| cell.2.is_some()));
        }
    }

    #[test]
    fn paper_values_read_at_their_place() {
        let matrices = paper_fid_matrices();
        let centered_b = crate::find_matrix(&matrices, "centered-square", Side::B).unwrap();
        assert_eq!(centered_b.get("scale=0.80", "test"), Some(101.17));
        assert_eq!(centered_b.get("test", "scale=0.80"), Some(101.17));
        let multi_a = crate::find_matrix(&matrices, "multi-rectangles", Side::A).unwrap();
        assert_eq!(multi_a.get("train", "scale=0.50"), Some(182.44));
    }
}
