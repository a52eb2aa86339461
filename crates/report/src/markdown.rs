//! Markdown rendering of the report's matrices, claims and key/value sections.

use std::fmt::Write;

use crate::claims::{ClaimCheck, Verdict};
use crate::{PairwiseMatrix, SET_LABELS};

/// Renders a matrix's lower triangle as a markdown table, with the paper's value in
/// brackets after ours when `paper` is given. Values use `decimals` decimals.
pub fn matrix_table(
    ours: Option<&PairwiseMatrix>,
    paper: Option<&PairwiseMatrix>,
    decimals: usize,
) -> String {
    let mut text = String::from("| |");
    for label in &SET_LABELS[..4] {
        let _ = write!(text, " {label} |");
    }
    text.push_str("\n|---|");
    text.push_str(&"---:|".repeat(4));
    text.push('\n');
    for (row, label) in SET_LABELS.iter().enumerate().skip(1) {
        let _ = write!(text, "| **{label}** |");
        for column in 0..4 {
            if column >= row {
                text.push_str(" |");
                continue;
            }
            let value = |matrix: Option<&PairwiseMatrix>| {
                matrix
                    .and_then(|matrix| matrix.at(row, column))
                    .map_or_else(|| "n/a".to_string(), |value| format!("{value:.decimals$}"))
            };
            match paper {
                Some(_) => {
                    let _ = write!(text, " {} ({}) |", value(ours), value(paper));
                }
                None => {
                    let _ = write!(text, " {} |", value(ours));
                }
            }
        }
        text.push('\n');
    }
    text
}

/// Renders each claim as a heading with its verdict, the statement and one line per
/// deciding comparison.
pub fn claims_section(claims: &[ClaimCheck]) -> String {
    let mut text = String::new();
    for claim in claims {
        let _ = writeln!(text, "### Claim {}: {}\n", claim.number, claim.verdict());
        let _ = writeln!(text, "{}\n", claim.statement);
        for comparison in &claim.comparisons {
            let mark = match comparison.holds() {
                Some(true) => "holds",
                Some(false) => "fails",
                None => "missing",
            };
            let _ = writeln!(text, "- {comparison}: {mark}");
        }
        if claim.verdict() == Verdict::NotChecked && claim.comparisons.is_empty() {
            text.push_str("- no matrix to check it on\n");
        }
        text.push('\n');
    }
    text
}

/// Renders key/value pairs as a two-column markdown table.
pub fn key_value_table(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "None recorded.\n".to_string();
    }
    let mut text = String::from("| key | value |\n|---|---|\n");
    for (key, value) in pairs {
        let _ = writeln!(text, "| {} | {} |", escape(key), escape(value));
    }
    text
}

fn escape(cell: &str) -> String {
    cell.replace('|', "\\|").replace('\n', " ")
}
