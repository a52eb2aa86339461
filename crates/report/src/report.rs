//! Writing the whole report: `report.md`, `figures/*.png` and `tables/*.{csv,parquet}`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::claims::{check_claims, ClaimCheck};
use crate::heatmap::{draw_fid_heatmap, draw_fid_heatmap_pair};
use crate::image_grid::{draw_masks_figure, draw_output_grid, MasksFigure, OutputGrid};
use crate::loss_curves::{draw_loss_curves, LossCurves};
use crate::markdown::{claims_section, key_value_table, matrix_table};
use crate::paper::paper_fid_matrices;
use crate::tables::{claims_table, fid_table, matrix_keys, score_table, write_table};
use crate::{find_matrix, PairwiseMatrix, ReportError};

/// Everything a report shows; figures whose inputs are empty are left out.
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    pub title: String,
    /// Whether to set the paper's horse2zebra matrices beside ours and check its claims.
    pub compare_with_paper: bool,
    /// Our FID matrices, one per (training scheme, side).
    pub fid: Vec<PairwiseMatrix>,
    /// Our KID matrices, in the unit the caller chose (stated in `settings`).
    pub kid: Vec<PairwiseMatrix>,
    pub settings: Vec<(String, String)>,
    pub timings: Vec<(String, String)>,
    pub masks_figure: Option<MasksFigure>,
    /// Output grids, each saved as `figures/<file stem>.png`.
    pub output_grids: Vec<NamedGrid>,
    pub loss_curves: Vec<LossCurves>,
}

/// An output grid with the file stem it is saved under.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedGrid {
    pub file_stem: String,
    pub grid: OutputGrid,
}

/// Claims and files produced by [`write_report`].
#[derive(Debug, Clone)]
pub struct ReportSummary {
    pub claims: Vec<ClaimCheck>,
    /// Every file written, relative to the output directory.
    pub files: Vec<PathBuf>,
}

/// Writes the report into `out_dir`, which is created if missing.
pub fn write_report(input: &ReportInput, out_dir: &Path) -> Result<ReportSummary, ReportError> {
    let figures = out_dir.join("figures");
    let tables = out_dir.join("tables");
    std::fs::create_dir_all(&figures).map_err(|source| ReportError::io(&figures, source))?;
    let (paper, claims) = if input.compare_with_paper {
        (paper_fid_matrices(), check_claims(&input.fid))
    } else {
        (Vec::new(), Vec::new())
    };
    let mut files = Vec::new();

    let mut heatmaps = Vec::new();
    for ours in &input.fid {
        let stem = format!("fid_{}_{}", ours.training_masks, ours.side);
        let single = figures.join(format!("{stem}.png"));
        draw_fid_heatmap(ours, &single)?;
        files.push(single.clone());
        let pair = find_matrix(&paper, &ours.training_masks, ours.side).map(|paper| {
            let path = figures.join(format!("{stem}_vs_paper.png"));
            (paper, path)
        });
        match pair {
            Some((paper, path)) => {
                draw_fid_heatmap_pair(ours, paper, &path)?;
                files.push(path.clone());
                heatmaps.push((ours.training_masks.clone(), ours.side, path));
            }
            None => heatmaps.push((ours.training_masks.clone(), ours.side, single.clone())),
        }
    }

    let mut image_figures = Vec::new();
    if let Some(masks_figure) = &input.masks_figure {
        let path = figures.join("masks.png");
        draw_masks_figure(masks_figure, &path)?;
        image_figures.push(("Masks".to_string(), path.clone()));
        files.push(path);
    }
    for named in &input.output_grids {
        let path = figures.join(format!("{}.png", named.file_stem));
        draw_output_grid(&named.grid, &path)?;
        image_figures.push((named.grid.title.clone(), path.clone()));
        files.push(path);
    }
    for curves in &input.loss_curves {
        let path = figures.join(format!("losses_{}.png", curves.run));
        draw_loss_curves(curves, &path)?;
        image_figures.push((format!("Losses of {}", curves.run), path.clone()));
        files.push(path);
    }

    files.extend(write_table(&fid_table(&input.fid, &paper), &tables, "fid")?);
    files.extend(write_table(
        &score_table(&input.kid, "kid"),
        &tables,
        "kid",
    )?);
    files.extend(write_table(&claims_table(&claims), &tables, "claims")?);

    let markdown = render_markdown(input, &paper, &claims, &heatmaps, &image_figures, out_dir);
    let report_path = out_dir.join("report.md");
    std::fs::write(&report_path, markdown)
        .map_err(|source| ReportError::io(&report_path, source))?;
    files.push(report_path);

    let files = files
        .into_iter()
        .map(|path| {
            path.strip_prefix(out_dir)
                .map(Path::to_path_buf)
                .unwrap_or(path)
        })
        .collect();
    tracing::info!(dir = %out_dir.display(), "report written");
    Ok(ReportSummary { claims, files })
}

fn render_markdown(
    input: &ReportInput,
    paper: &[PairwiseMatrix],
    claims: &[ClaimCheck],
    heatmaps: &[(String, crate::Side, PathBuf)],
    image_figures: &[(String, PathBuf)],
    out_dir: &Path,
) -> String {
    let relative = |path: &Path| {
        path.strip_prefix(out_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let mut text = String::new();
    let _ = writeln!(text, "# {}\n", input.title);

    text.push_str("## FID matrices\n\n");
    if input.compare_with_paper {
        text.push_str(
            "Each cell is our FID with the paper's value in brackets (paper Figures 4 and 5, \
             read off the authors' repository figures). ",
        );
    }
    text.push_str(
        "Rows and columns are the translations with each centered mask scale and the real \
         train and test sets of the side.\n\n",
    );
    for (training_masks, side) in matrix_keys(&[paper, &input.fid]) {
        let _ = writeln!(text, "### Trained with {training_masks}, side {side}\n");
        let ours = find_matrix(&input.fid, &training_masks, side);
        let paper = find_matrix(paper, &training_masks, side);
        text.push_str(&matrix_table(ours, paper, 2));
        text.push('\n');
        let heatmap = heatmaps
            .iter()
            .find(|(scheme, heatmap_side, _)| *scheme == training_masks && *heatmap_side == side);
        if let Some((_, _, path)) = heatmap {
            let alt = if paper.is_some() {
                "FID heat maps, paper and ours"
            } else {
                "FID heat map"
            };
            let _ = writeln!(text, "![{alt}]({})\n", relative(path));
        }
    }

    text.push_str("## The paper's five claims\n\n");
    if input.compare_with_paper {
        text.push_str(&claims_section(claims));
    } else {
        text.push_str(
            "The paper's claims are about its horse2zebra matrices, so they are not checked \
             for this dataset.\n\n",
        );
    }

    text.push_str("## KID\n\n");
    let kid_keys = matrix_keys(&[&input.kid]);
    if kid_keys.is_empty() {
        text.push_str("No KID values were given.\n\n");
    }
    for (training_masks, side) in kid_keys {
        let _ = writeln!(text, "### Trained with {training_masks}, side {side}\n");
        text.push_str(&matrix_table(
            find_matrix(&input.kid, &training_masks, side),
            None,
            4,
        ));
        text.push('\n');
    }

    text.push_str("## Figures\n\n");
    for (title, path) in image_figures {
        let _ = writeln!(text, "### {title}\n\n![{title}]({})\n", relative(path));
    }

    text.push_str("## Settings\n\n");
    text.push_str(&key_value_table(&input.settings));
    text.push_str("\n## Timings\n\n");
    text.push_str(&key_value_table(&input.timings));
    text.push_str(
        "\n## Tables\n\n[FID](tables/fid.csv), [KID](tables/kid.csv), \
         [claims](tables/claims.csv), each also as parquet.\n",
    );
    text
}
