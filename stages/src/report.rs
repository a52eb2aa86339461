//! The `report` kind: gathers FID tables, training runs, mask banks and translations into
//! `report.md`, `figures/` and `tables/` through the `report` crate.
//!
//! Inputs are wildcard references whose stage names carry the meaning:
//!
//! - `fid`: `fid.<training masks>.<side>` outputs, each a `fid.parquet` of pairwise FID and KID
//!   among `scale=0.50`, `scale=0.80`, `scale=1.00`, `train` and `test`;
//! - `train` (optional): `train.<training masks>` outputs, for loss curves, settings and timings;
//! - `masks` (optional): `masks.<bank>` mask banks; the banks named `centered-square` and
//!   `multi-rectangles` fill the masks figure;
//! - `attention` and `attention_maps` (optional): a binary-attention bank and the maps it was
//!   thresholded from, shown side by side in the masks figure;
//! - `grids` (optional): `grid.<training masks>.<bank>` translations of `sources` with every mask
//!   of the bank `masks.<bank>`, written as `<mask stem>/<source stem>.png`;
//! - `sources` (optional): the source images of the grids, matched by file stem.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use arrow::array::{Array, Float32Array, Float64Array, UInt64Array};
use dag::{Input, InputSpec, StageContext, StageKind};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use report::{
    LabelledImage, LossCurves, LossTerm, MasksFigure, NamedGrid, OutputGrid, PairwiseMatrix,
    ReportInput, Side,
};
use serde::{Deserialize, Serialize};

/// Params of the `report` kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportParams {
    /// Title of `report.md`; default "Mask CycleGAN on horse2zebra: reproduction report".
    pub title: String,
    /// Source images per output grid (the first ones by file name); default 4.
    pub grid_sources: usize,
    /// Multi-rectangle samples in the masks figure; default 4.
    pub masks_figure_samples: usize,
    /// Whether to set the Mask CycleGAN paper's horse2zebra FID matrices beside ours and check
    /// its five claims (default true). Turn it off for other datasets, where they do not apply.
    pub compare_with_paper: bool,
}

impl Default for ReportParams {
    fn default() -> Self {
        ReportParams {
            title: "Mask CycleGAN on horse2zebra: reproduction report".to_string(),
            grid_sources: 4,
            masks_figure_samples: 4,
            compare_with_paper: true,
        }
    }
}

/// KID is reported multiplied by this factor, so that its values read like FID's.
const KID_FACTOR: f64 = 1000.0;

/// The `report` stage kind.
pub struct Report;

impl StageKind for Report {
    fn name(&self) -> &'static str {
        "report"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::REPORT
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        dag::check_params::<ReportParams>(params)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        const INPUTS: &[InputSpec] = &[
            InputSpec::required("fid"),
            InputSpec::optional("train"),
            InputSpec::optional("masks"),
            InputSpec::optional("attention"),
            InputSpec::optional("attention_maps"),
            InputSpec::optional("grids"),
            InputSpec::optional("sources"),
        ];
        INPUTS
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: ReportParams = ctx.params()?;
        let mut input = ReportInput {
            title: params.title.clone(),
            compare_with_paper: params.compare_with_paper,
            ..ReportInput::default()
        };

        let fid_entries = list_entries(ctx, "fid");
        read_fid_matrices(&fid_entries, &mut input)?;
        ctx.check_cancelled()?;

        for (stage, dir) in list_entries(ctx, "train") {
            read_training_run(&stage, &dir, &mut input)?;
        }

        let banks: BTreeMap<String, PathBuf> = list_entries(ctx, "masks")
            .into_iter()
            .map(|(stage, dir)| (last_component(&stage).to_string(), dir))
            .collect();
        let attention = optional_path(ctx, "attention")?;
        let attention_maps = optional_path(ctx, "attention_maps")?;
        input.masks_figure = masks_figure(
            &banks,
            attention.as_deref().zip(attention_maps.as_deref()),
            params.masks_figure_samples,
        )?;

        let sources = optional_path(ctx, "sources")?;
        for (stage, dir) in list_entries(ctx, "grids") {
            ctx.check_cancelled()?;
            let Some(sources) = &sources else {
                bail!(
                    "stage {} has `grids` but no `sources` input to take the source images from",
                    ctx.stage()
                );
            };
            input.output_grids.push(output_grid(
                &stage,
                &dir,
                &banks,
                sources,
                params.grid_sources,
            )?);
        }

        input.settings.push((
            "KID".to_string(),
            format!("unbiased MMD with a cubic polynomial kernel, multiplied by {KID_FACTOR}"),
        ));
        let summary = report::write_report(&input, ctx.out_dir())
            .with_context(|| format!("writing the report of stage {}", ctx.stage()))?;
        for claim in &summary.claims {
            tracing::info!(claim = claim.number, verdict = %claim.verdict(), "{}", claim.statement);
        }
        Ok(())
    }
}

/// Entries of a list input, or none when the stage does not have it.
fn list_entries(ctx: &StageContext, name: &str) -> Vec<(String, PathBuf)> {
    ctx.input(name)
        .map(Input::entries)
        .unwrap_or_default()
        .into_iter()
        .map(|(stage, path)| (stage.to_string(), path.to_path_buf()))
        .collect()
}

/// Returns the path of a single-reference input, or `None` when the stage does not have it.
fn optional_path(ctx: &StageContext, name: &str) -> anyhow::Result<Option<PathBuf>> {
    match ctx.input(name) {
        Some(_) => Ok(Some(ctx.input_path(name)?.to_path_buf())),
        None => Ok(None),
    }
}

fn last_component(stage: &str) -> &str {
    stage.rsplit('.').next().unwrap_or(stage)
}

/// Splits `fid.<training masks>.<side>` into its training masks and side.
fn scheme_and_side(stage: &str) -> anyhow::Result<(String, Side)> {
    let mut parts = stage.rsplitn(3, '.');
    let side = parts.next().unwrap_or_default();
    let scheme = parts.next().unwrap_or_default();
    let side = match side {
        "A" => Side::A,
        "B" => Side::B,
        other => bail!(
            "report input {stage:?}: the last part of the name must be the side A or B, \
             not {other:?}; name FID stages fid.<training masks>.<side>"
        ),
    };
    if scheme.is_empty() {
        bail!("report input {stage:?}: name FID stages fid.<training masks>.<side>");
    }
    Ok((scheme.to_string(), side))
}

fn read_fid_matrices(entries: &[(String, PathBuf)], input: &mut ReportInput) -> anyhow::Result<()> {
    for (stage, dir) in entries {
        let (scheme, side) = scheme_and_side(stage)?;
        let path = dir.join(crate::fid::FID_OUTPUT);
        let results = fid::pairwise::read_parquet(&path)
            .with_context(|| format!("reading the FID table of stage {stage}"))?;
        let mut fid_matrix = PairwiseMatrix::new(&scheme, side);
        let mut kid_matrix = PairwiseMatrix::new(&scheme, side);
        let mut counts = BTreeMap::new();
        for result in &results {
            fid_matrix
                .set(&result.a, &result.b, result.fid)
                .map_err(|message| anyhow::anyhow!("{}: {message}", path.display()))?;
            if let Some(kid) = result.kid_mean {
                kid_matrix
                    .set(&result.a, &result.b, kid * KID_FACTOR)
                    .map_err(|message| anyhow::anyhow!("{}: {message}", path.display()))?;
            }
            counts.insert(result.a.clone(), result.n_a);
            counts.insert(result.b.clone(), result.n_b);
        }
        let counts = counts
            .iter()
            .map(|(label, count)| format!("{label} {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        input
            .settings
            .push((format!("images in FID, {scheme} side {side}"), counts));
        if results.iter().any(|result| result.eps_offset_used) {
            input.settings.push((
                format!("eps offset, {scheme} side {side}"),
                "1e-6 added to both covariance diagonals for at least one pair, because the \
                 product of the covariances was singular (as TTUR does)"
                    .to_string(),
            ));
        }
        input.fid.push(fid_matrix);
        input.kid.push(kid_matrix);
    }
    Ok(())
}

fn read_training_run(stage: &str, dir: &Path, input: &mut ReportInput) -> anyhow::Result<()> {
    let run = last_component(stage).to_string();
    let checkpoint = dir.join("checkpoint.safetensors");
    let header = read_safetensors_metadata(&checkpoint)?;
    let described: Vec<String> = ["size", "ngf", "n_res", "masked"]
        .iter()
        .filter_map(|key| header.get(*key).map(|value| format!("{key} {value}")))
        .collect();
    input
        .settings
        .push((format!("training run {run}"), described.join(", ")));

    let curves = read_loss_curves(&run, &dir.join("losses.parquet"))?;
    if let (Some(last), Some(seconds)) = (curves.0.iterations.last(), curves.1) {
        input.timings.push((
            format!("training {run}"),
            format!(
                "{last} iterations in {seconds:.0} s ({:.0} ms per iteration)",
                seconds * 1000.0 / *last as f64
            ),
        ));
    }
    input.loss_curves.push(curves.0);
    Ok(())
}

fn read_safetensors_metadata(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|error| {
        anyhow::anyhow!("{} is not a safetensors file: {error}", path.display())
    })?;
    Ok(metadata
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect())
}

/// Reads a loss history table: every float column but `lr` and `seconds` is a loss term.
/// Returns the curves and the run's total seconds.
fn read_loss_curves(run: &str, path: &Path) -> anyhow::Result<(LossCurves, Option<f64>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .with_context(|| format!("reading the loss table {}", path.display()))?;
    let mut iterations = Vec::new();
    let mut terms: Vec<LossTerm> = Vec::new();
    let mut seconds = None;
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        let schema = batch.schema();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let name = field.name().as_str();
            if name == "iteration" {
                let values = column
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .with_context(|| format!("{}: `iteration` is not u64", path.display()))?;
                iterations.extend(values.values().iter().copied());
                continue;
            }
            let values: Vec<f64> =
                if let Some(array) = column.as_any().downcast_ref::<Float32Array>() {
                    array
                        .values()
                        .iter()
                        .map(|&value| f64::from(value))
                        .collect()
                } else if let Some(array) = column.as_any().downcast_ref::<Float64Array>() {
                    array.values().to_vec()
                } else {
                    continue;
                };
            match name {
                "lr" => {}
                "seconds" => seconds = values.last().copied().or(seconds),
                _ => match terms.iter_mut().find(|term| term.name == name) {
                    Some(term) => term.values.extend(values),
                    None => terms.push(LossTerm {
                        name: name.to_string(),
                        values,
                    }),
                },
            }
        }
    }
    let curves = LossCurves {
        run: run.to_string(),
        iterations,
        terms,
    };
    Ok((curves, seconds))
}

/// PNG files of a directory (mask images, translations), sorted by name.
fn bank_masks(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut masks: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "png"))
        .collect();
    masks.sort();
    Ok(masks)
}

/// Lists every file of a directory, sorted by name.
fn image_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn labelled(paths: Vec<PathBuf>, label: impl Fn(&Path) -> String) -> Vec<LabelledImage> {
    paths
        .into_iter()
        .map(|path| LabelledImage {
            label: label(&path),
            path,
        })
        .collect()
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Builds the masks figure. `attention` is a binary-attention bank with the directory of the
/// maps it was thresholded from, and its masks follow the maps' name order.
fn masks_figure(
    banks: &BTreeMap<String, PathBuf>,
    attention: Option<(&Path, &Path)>,
    samples: usize,
) -> anyhow::Result<Option<MasksFigure>> {
    let mut figure = MasksFigure::default();
    if let Some(dir) = banks.get("centered-square") {
        figure.centered_squares = labelled(bank_masks(dir)?, file_stem);
    }
    if let Some(dir) = banks.get("multi-rectangles") {
        let mut masks = bank_masks(dir)?;
        masks.truncate(samples);
        figure.multi_rectangles = labelled(masks, file_stem);
    }
    if let Some((bank, maps_dir)) = attention {
        let masks = bank_masks(bank)?;
        let maps = image_files(maps_dir)?;
        for (map, mask) in maps.into_iter().zip(masks).take(samples.div_ceil(2)) {
            figure.binary_attention.push(LabelledImage {
                label: format!("map {}", file_stem(&map)),
                path: map,
            });
            figure.binary_attention.push(LabelledImage {
                label: "thresholded".to_string(),
                path: mask,
            });
        }
    }
    let empty = figure.centered_squares.is_empty()
        && figure.multi_rectangles.is_empty()
        && figure.binary_attention.is_empty();
    Ok((!empty).then_some(figure))
}

/// Builds the grid of `grid.<training masks>.<bank>`: the bank's masks across, the first
/// `count` translated sources down.
fn output_grid(
    stage: &str,
    dir: &Path,
    banks: &BTreeMap<String, PathBuf>,
    sources_dir: &Path,
    count: usize,
) -> anyhow::Result<NamedGrid> {
    let mut parts = stage.rsplitn(3, '.');
    let bank = parts.next().unwrap_or_default();
    let scheme = parts.next().unwrap_or_default();
    let Some(bank_dir) = banks.get(bank) else {
        bail!(
            "report input {stage:?} names the mask bank {bank:?}, but no `masks` input is the \
             stage masks.{bank}; add it to the report's `masks` input"
        );
    };
    let masks = bank_masks(bank_dir)?;

    let first_mask_dir =
        dir.join(file_stem(masks.first().with_context(|| {
            format!("the mask bank {} holds no mask", bank_dir.display())
        })?));
    let mut translated = bank_masks(&first_mask_dir)?;
    translated.truncate(count);
    let stems: Vec<String> = translated.iter().map(|path| file_stem(path)).collect();

    let sources = stems
        .iter()
        .map(|stem| find_source(sources_dir, stem))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cells = stems
        .iter()
        .map(|stem| {
            masks
                .iter()
                .map(|mask| dir.join(file_stem(mask)).join(format!("{stem}.png")))
                .collect()
        })
        .collect();
    Ok(NamedGrid {
        file_stem: format!("grid_{scheme}_{bank}"),
        grid: OutputGrid {
            title: format!("Trained with {scheme} masks, translated with {bank} masks"),
            masks,
            sources,
            cells,
        },
    })
}

/// Finds the source image with the given file stem, whatever its extension.
fn find_source(dir: &Path, stem: &str) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(dir)
        .with_context(|| format!("listing the source images {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| file_stem(path) == stem)
        .with_context(|| format!("no source image named {stem}.* in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fid_stage_name_gives_scheme_and_side() {
        let (scheme, side) = scheme_and_side("fid.multi-rectangles.B").unwrap();
        assert_eq!(scheme, "multi-rectangles");
        assert_eq!(side, Side::B);
    }

    #[test]
    fn fid_stage_name_without_side_is_rejected() {
        assert!(scheme_and_side("fid.centered-square.C").is_err());
        assert!(scheme_and_side("A").is_err());
    }

    #[test]
    fn report_params_reject_unknown_keys() {
        let error = Report
            .check_params(&serde_json::json!({"titel": "x"}))
            .unwrap_err();
        assert!(error.contains("titel"), "{error}");
    }
}
