//! Renders every report figure from the paper's FID values and synthetic images, so the
//! figures can be looked at without running the pipeline.
//!
//! `cargo run --release -p report --example render -- [OUT_DIR]` (default
//! `target/report-example`).

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use report::{
    paper_fid_matrices, write_report, LabelledImage, LossCurves, LossTerm, MasksFigure, NamedGrid,
    OutputGrid, PairwiseMatrix, ReportInput, SET_LABELS,
};

const SIZE: usize = 128;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/report-example"));
    let inputs = out_dir.join("inputs");
    std::fs::create_dir_all(&inputs)?;

    let centered: Vec<(f64, PathBuf)> = [0.5, 0.8, 1.0]
        .iter()
        .map(|&scale| {
            let path = inputs.join(format!("centered_{scale:.2}.png"));
            save_mask(&masks::centered_square(SIZE, scale), &path).map(|()| (scale, path))
        })
        .collect::<Result<_, _>>()?;
    let rectangles = multi_rectangle_masks(&inputs, 4)?;
    let round: Vec<PathBuf> = [0.3, 0.6, 0.9]
        .iter()
        .map(|&radius| {
            let path = inputs.join(format!("round_{radius:.1}.png"));
            save_mask(&masks::round(SIZE, radius), &path).map(|()| path)
        })
        .collect::<Result<_, _>>()?;
    let (attention_map, attention_mask) = attention_example(&inputs)?;
    let sources: Vec<PathBuf> = (0..3)
        .map(|index| {
            let path = inputs.join(format!("source_{index}.png"));
            synthetic_photo(index).save(&path).map(|()| path)
        })
        .collect::<Result<_, _>>()?;

    let centered_masks: Vec<PathBuf> = centered.iter().map(|(_, path)| path.clone()).collect();
    let input = ReportInput {
        title: "Mask CycleGAN reproduction (example with the paper's values)".into(),
        compare_with_paper: true,
        fid: paper_fid_matrices().iter().map(perturbed).collect(),
        kid: paper_fid_matrices().iter().map(kid_like).collect(),
        settings: vec![
            ("dataset".into(), "horse2zebra".into()),
            ("size".into(), SIZE.to_string()),
            ("KID unit".into(), "x 1000".into()),
        ],
        timings: vec![("train.centered-square".into(), "1 h 02 min".into())],
        masks_figure: Some(MasksFigure {
            centered_squares: centered
                .iter()
                .map(|(scale, path)| labelled(&format!("scale={scale:.2}"), path))
                .collect(),
            multi_rectangles: rectangles
                .iter()
                .enumerate()
                .map(|(index, path)| labelled(&format!("sample {}", index + 1), path))
                .collect(),
            binary_attention: vec![
                labelled("attention map", &attention_map),
                labelled("threshold 0.5", &attention_mask),
            ],
        }),
        output_grids: vec![
            grid(
                "grid_centered",
                "Centered masks",
                &centered_masks,
                &sources,
                &inputs,
            )?,
            grid(
                "grid_multi_rectangles",
                "Multi-rectangle masks",
                &rectangles,
                &sources,
                &inputs,
            )?,
            grid(
                "grid_round",
                "Round masks, centered-square model",
                &round,
                &sources,
                &inputs,
            )?,
        ],
        loss_curves: vec![
            synthetic_losses("centered-square"),
            synthetic_losses("multi-rectangles"),
        ],
    };
    let summary = write_report(&input, &out_dir)?;
    for file in &summary.files {
        println!("{}", out_dir.join(file).display());
    }
    for claim in &summary.claims {
        println!("claim {}: {}", claim.number, claim.verdict());
    }
    Ok(())
}

fn labelled(label: &str, path: &Path) -> LabelledImage {
    LabelledImage {
        label: label.to_string(),
        path: path.to_path_buf(),
    }
}

fn save_mask(mask: &masks::Mask, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, mask.to_png().map_err(std::io::Error::other)?)
}

fn multi_rectangle_masks(dir: &Path, count: u32) -> Result<Vec<PathBuf>, masks::MaskError> {
    let mut params = masks::BankParams::new(masks::Scheme::MultiRectangles, SIZE as u32);
    params.count = count;
    params.seed = 4;
    let bank = masks::Bank::generate(&params)?;
    let bank_dir = dir.join("multi_rectangles");
    bank.write(&bank_dir)?;
    Ok(bank.mask_paths(&bank_dir))
}

/// A smooth blob as an attention map and its thresholded mask.
fn attention_example(dir: &Path) -> Result<(PathBuf, PathBuf), Box<dyn std::error::Error>> {
    let map = image::GrayImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
        let dx = (x as f64 - 70.0) / 30.0;
        let dy = (y as f64 - 55.0) / 22.0;
        image::Luma([(255.0 * (-(dx * dx + dy * dy) / 2.0).exp()) as u8])
    });
    let map_path = dir.join("attention_map.png");
    map.save(&map_path)?;
    let mask_path = dir.join("attention_mask.png");
    save_mask(&masks::binary_attention(&map, SIZE, 0.5), &mask_path)?;
    Ok((map_path, mask_path))
}

/// A striped synthetic "photo" with a different hue per index.
fn synthetic_photo(index: u32) -> RgbImage {
    RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
        let stripe = ((x + y * (index + 1)) / 12) % 2 == 0;
        let base = [90 + 50 * index as u8, 140, 200 - 40 * index as u8];
        let scale = if stripe { 1.0 } else { 0.6 };
        Rgb(base.map(|channel| (f64::from(channel) * scale) as u8))
    })
}

/// A fake translation: the source inverted where the mask is set.
fn translate(source: &Path, mask: &Path, target: &Path) -> Result<(), image::ImageError> {
    let source = image::open(source)?.into_rgb8();
    let mask = image::open(mask)?.into_luma8();
    let translated = RgbImage::from_fn(source.width(), source.height(), |x, y| {
        let pixel = *source.get_pixel(x, y);
        if mask.get_pixel(x, y).0[0] > 127 {
            Rgb(pixel.0.map(|channel| 255 - channel))
        } else {
            pixel
        }
    });
    translated.save(target)
}

fn grid(
    stem: &str,
    title: &str,
    mask_paths: &[PathBuf],
    sources: &[PathBuf],
    dir: &Path,
) -> Result<NamedGrid, image::ImageError> {
    let mut cells = Vec::new();
    for (row, source) in sources.iter().enumerate() {
        let mut cells_of_row = Vec::new();
        for (column, mask) in mask_paths.iter().enumerate() {
            let path = dir.join(format!("{stem}_{row}_{column}.png"));
            translate(source, mask, &path)?;
            cells_of_row.push(path);
        }
        cells.push(cells_of_row);
    }
    Ok(NamedGrid {
        file_stem: stem.to_string(),
        grid: OutputGrid {
            title: title.to_string(),
            masks: mask_paths.to_vec(),
            sources: sources.to_vec(),
            cells,
        },
    })
}

/// The paper's matrix with each value moved by a few percent, standing in for ours.
fn perturbed(paper: &PairwiseMatrix) -> PairwiseMatrix {
    map_values(paper, |row, column, value| {
        value * (1.0 + 0.03 * ((row * 5 + column) % 4) as f64 - 0.04)
    })
}

fn kid_like(paper: &PairwiseMatrix) -> PairwiseMatrix {
    map_values(paper, |_, _, value| value / 1000.0)
}

fn map_values(matrix: &PairwiseMatrix, f: impl Fn(usize, usize, f64) -> f64) -> PairwiseMatrix {
    let mut mapped = PairwiseMatrix::new(matrix.training_masks.clone(), matrix.side);
    for (row, column, value) in matrix.lower_triangle() {
        if let Some(value) = value {
            mapped
                .set(SET_LABELS[row], SET_LABELS[column], f(row, column, value))
                .expect("labels come from SET_LABELS");
        }
    }
    mapped
}

fn synthetic_losses(run: &str) -> LossCurves {
    let iterations: Vec<u64> = (0..200).map(|step| step * 50).collect();
    let decay = |start: f64, floor: f64| -> Vec<f64> {
        iterations
            .iter()
            .map(|&iteration| floor + (start - floor) * (-(iteration as f64) / 2500.0).exp())
            .collect()
    };
    LossCurves {
        run: run.to_string(),
        terms: vec![
            LossTerm {
                name: "G_total".into(),
                values: decay(12.0, 3.5),
            },
            LossTerm {
                name: "cycle".into(),
                values: decay(8.0, 1.5),
            },
            LossTerm {
                name: "identity".into(),
                values: decay(3.0, 0.6),
            },
            LossTerm {
                name: "D_A".into(),
                values: decay(0.5, 0.2),
            },
        ],
        iterations,
    }
}
