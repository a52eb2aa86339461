//! The five claims the Mask CycleGAN paper (Wang et al., 2019) makes about its FID
//! matrices, checked on any set of matrices.
//!
//! Each claim is a list of comparisons between two matrix entries. A claim passes when
//! every comparison holds and is not checked when an entry it needs is missing.

use std::fmt;

use crate::{find_matrix, PairwiseMatrix, Side, SCALE_LABELS};

/// Training scheme names the claims refer to.
pub const CENTERED_SQUARE: &str = "centered-square";
pub const MULTI_RECTANGLES: &str = "multi-rectangles";

/// Outcome of one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// A matrix entry the claim needs is missing.
    NotChecked,
}

impl fmt::Display for Verdict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::NotChecked => "NOT CHECKED",
        })
    }
}

/// One matrix entry named in a comparison, such as `FID_B(scale=0.80, test)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub training_masks: String,
    pub side: Side,
    pub first: &'static str,
    pub second: &'static str,
    pub value: Option<f64>,
}

impl fmt::Display for Entry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "FID_{}({}, {}) [{}] = ",
            self.side, self.first, self.second, self.training_masks
        )?;
        match self.value {
            Some(value) => write!(formatter, "{value:.2}"),
            None => formatter.write_str("missing"),
        }
    }
}

/// A comparison `smaller < larger` that a claim requires.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub smaller: Entry,
    pub larger: Entry,
}

impl Comparison {
    /// Returns whether the comparison holds, or `None` when an entry is missing.
    pub fn holds(&self) -> Option<bool> {
        Some(self.smaller.value? < self.larger.value?)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} < {}", self.smaller, self.larger)
    }
}

/// One claim with the comparisons that decide it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimCheck {
    pub number: u8,
    pub statement: &'static str,
    pub comparisons: Vec<Comparison>,
}

impl ClaimCheck {
    /// Returns PASS when every comparison holds, FAIL when one does not, and NOT CHECKED
    /// when none fails but an entry is missing.
    pub fn verdict(&self) -> Verdict {
        let outcomes: Vec<Option<bool>> = self.comparisons.iter().map(Comparison::holds).collect();
        if outcomes.contains(&Some(false)) {
            return Verdict::Fail;
        }
        if outcomes.is_empty() || outcomes.contains(&None) {
            return Verdict::NotChecked;
        }
        Verdict::Pass
    }
}

/// Checks the five claims on `matrices`, which should hold both sides of both training
/// schemes. Claims 1 to 4 are checked on every training scheme present.
pub fn check_claims(matrices: &[PairwiseMatrix]) -> Vec<ClaimCheck> {
    let entry =
        |training_masks: &str, side: Side, first: &'static str, second: &'static str| Entry {
            training_masks: training_masks.to_string(),
            side,
            first,
            second,
            value: find_matrix(matrices, training_masks, side)
                .and_then(|matrix| matrix.get(first, second)),
        };
    let compare = |smaller: Entry, larger: Entry| Comparison { smaller, larger };
    let schemes = training_schemes(matrices);

    let mut scale_train_test = Vec::new();
    let mut train_test_sides = Vec::new();
    let mut scale_sides = Vec::new();
    let mut smaller_mask = Vec::new();
    for scheme in &schemes {
        for side in [Side::A, Side::B] {
            for scale in SCALE_LABELS {
                scale_train_test.push(compare(
                    entry(scheme, side, scale, "train"),
                    entry(scheme, side, scale, "test"),
                ));
            }
        }
        train_test_sides.push(compare(
            entry(scheme, Side::B, "train", "test"),
            entry(scheme, Side::A, "train", "test"),
        ));
        for scale in SCALE_LABELS {
            scale_sides.push(compare(
                entry(scheme, Side::B, scale, "test"),
                entry(scheme, Side::A, scale, "test"),
            ));
        }
        smaller_mask.push(compare(
            entry(scheme, Side::B, "scale=0.80", "test"),
            entry(scheme, Side::B, "scale=1.00", "test"),
        ));
    }
    let multi_rectangles_better = vec![compare(
        entry(MULTI_RECTANGLES, Side::B, "scale=0.80", "test"),
        entry(CENTERED_SQUARE, Side::B, "scale=0.80", "test"),
    )];

    vec![
        ClaimCheck {
            number: 1,
            statement: "For every scale and both sides, FID(scale, train) < FID(scale, test).",
            comparisons: scale_train_test,
        },
        ClaimCheck {
            number: 2,
            statement: "FID_A(train, test) > FID_B(train, test): horses vary more in style.",
            comparisons: train_test_sides,
        },
        ClaimCheck {
            number: 3,
            statement: "For every scale, FID_A(scale, test) > FID_B(scale, test): \
                        horses are harder to emulate.",
            comparisons: scale_sides,
        },
        ClaimCheck {
            number: 4,
            statement: "FID_B(scale=0.80, test) < FID_B(scale=1.00, test): \
                        the smaller centered mask does better.",
            comparisons: smaller_mask,
        },
        ClaimCheck {
            number: 5,
            statement: "Trained with multi-rectangles, FID_B(scale=0.80, test) is lower than \
                        trained with centered squares.",
            comparisons: multi_rectangles_better,
        },
    ]
}

/// Training schemes present in `matrices`, centered-square and multi-rectangles first.
fn training_schemes(matrices: &[PairwiseMatrix]) -> Vec<String> {
    let mut schemes: Vec<String> = Vec::new();
    let known = [CENTERED_SQUARE, MULTI_RECTANGLES];
    let present = matrices.iter().map(|matrix| matrix.training_masks.as_str());
    for scheme in known.into_iter().chain(present) {
        let is_present = matrices
            .iter()
            .any(|matrix| matrix.training_masks == scheme);
        if is_present && !schemes.iter().any(|known| known == scheme) {
            schemes.push(scheme.to_string());
        }
    }
    schemes
}
