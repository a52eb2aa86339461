//! The report of the Mask CycleGAN reproduction (Wang et al., 2019), built from plain
//! structs and image paths.
//!
//! [`write_report`] writes `report.md`, `figures/*.png` and `tables/*.csv` plus
//! `tables/*.parquet` into a directory: the FID matrices beside the paper's
//! (embedded from `data/paper_fid_matrices.csv`), the paper's five claims checked on our
//! numbers, KID, settings and timings. Figures are drawn with plotters on a bitmap using a
//! shipped DejaVu Sans font, so they render the same on machines without system fonts.

mod canvas;
pub mod claims;
mod error;
mod font;
pub mod heatmap;
pub mod image_grid;
pub mod loss_curves;
pub mod markdown;
mod matrix;
mod paper;
mod report;
pub mod tables;

pub use claims::{check_claims, ClaimCheck, Comparison, Entry, Verdict};
pub use error::ReportError;
pub use heatmap::{draw_fid_heatmap, draw_fid_heatmap_pair};
pub use image_grid::{draw_masks_figure, draw_output_grid, LabelledImage, MasksFigure, OutputGrid};
pub use loss_curves::{draw_loss_curves, LossCurves, LossTerm};
pub use matrix::{find_matrix, PairwiseMatrix, Side, SCALE_LABELS, SET_LABELS};
pub use paper::{paper_fid_matrices, parse_fid_csv, PAPER_TRAINING_MASKS};
pub use report::{write_report, NamedGrid, ReportInput, ReportSummary};
