//! The report on the paper's own numbers: claims, figures, markdown and tables.

use std::path::{Path, PathBuf};

use report::{
    check_claims, draw_output_grid, paper_fid_matrices, write_report, LabelledImage, LossCurves,
    LossTerm, MasksFigure, NamedGrid, OutputGrid, PairwiseMatrix, ReportInput, Side, Verdict,
};

fn set_value(
    matrices: &mut [PairwiseMatrix],
    scheme: &str,
    side: Side,
    pair: (&str, &str),
    value: f64,
) {
    let matrix = matrices
        .iter_mut()
        .find(|matrix| matrix.training_masks == scheme && matrix.side == side)
        .unwrap();
    matrix.set(pair.0, pair.1, value).unwrap();
}

fn verdicts(matrices: &[PairwiseMatrix]) -> Vec<Verdict> {
    check_claims(matrices)
        .iter()
        .map(|claim| claim.verdict())
        .collect()
}

#[test]
fn paper_matrices_pass_all_claims() {
    assert_eq!(verdicts(&paper_fid_matrices()), [Verdict::Pass; 5]);
}

#[test]
fn claims_name_deciding_values() {
    let claims = check_claims(&paper_fid_matrices());
    let claim_five = claims[4].comparisons[0].to_string();
    assert!(claim_five.contains("84.83"), "{claim_five}");
    assert!(claim_five.contains("101.17"), "{claim_five}");
    // Claim 1: three scales, two sides, two training schemes.
    assert_eq!(claims[0].comparisons.len(), 12);
}

#[test]
fn larger_centered_fid_fails_claim_four() {
    let mut matrices = paper_fid_matrices();
    // 140 > FID_B(scale=1.00, test) = 129.23, and still above multi-rectangles' 84.83.
    set_value(
        &mut matrices,
        "centered-square",
        Side::B,
        ("scale=0.80", "test"),
        140.0,
    );
    let verdicts = verdicts(&matrices);
    assert_eq!(verdicts[3], Verdict::Fail);
    assert_eq!(verdicts[4], Verdict::Pass);
    assert_eq!(verdicts[0], Verdict::Pass);
}

#[test]
fn swapped_sides_fail_claim_two() {
    let mut matrices = paper_fid_matrices();
    set_value(
        &mut matrices,
        "multi-rectangles",
        Side::B,
        ("train", "test"),
        90.0,
    );
    assert_eq!(verdicts(&matrices)[1], Verdict::Fail);
}

#[test]
fn train_above_test_fails_claim_one() {
    let mut matrices = paper_fid_matrices();
    set_value(
        &mut matrices,
        "centered-square",
        Side::A,
        ("scale=0.50", "train"),
        210.0,
    );
    assert_eq!(verdicts(&matrices)[0], Verdict::Fail);
}

#[test]
fn missing_scheme_leaves_claim_unchecked() {
    let centered_only: Vec<PairwiseMatrix> = paper_fid_matrices()
        .into_iter()
        .filter(|matrix| matrix.training_masks == "centered-square")
        .collect();
    let verdicts = verdicts(&centered_only);
    assert_eq!(verdicts[0], Verdict::Pass);
    assert_eq!(verdicts[4], Verdict::NotChecked);
}

fn write_gray(path: &Path, value: u8) -> PathBuf {
    image::GrayImage::from_pixel(32, 32, image::Luma([value]))
        .save(path)
        .unwrap();
    path.to_path_buf()
}

fn png_size(path: &Path) -> (u32, u32) {
    let decoded = image::open(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    (decoded.width(), decoded.height())
}

fn example_input(images: &Path) -> ReportInput {
    let mask = write_gray(&images.join("mask.png"), 255);
    let source = write_gray(&images.join("source.png"), 90);
    let cell = write_gray(&images.join("cell.png"), 180);
    ReportInput {
        title: "Test report".into(),
        compare_with_paper: true,
        fid: paper_fid_matrices(),
        kid: vec![],
        settings: vec![("size".into(), "128".into())],
        timings: vec![("train".into(), "10 s".into())],
        masks_figure: Some(MasksFigure {
            centered_squares: vec![LabelledImage {
                label: "scale=0.50".into(),
                path: mask.clone(),
            }],
            multi_rectangles: vec![],
            binary_attention: vec![],
        }),
        output_grids: vec![NamedGrid {
            file_stem: "grid_centered".into(),
            grid: OutputGrid {
                title: "Centered masks".into(),
                masks: vec![mask.clone(), mask],
                sources: vec![source],
                cells: vec![vec![cell.clone(), cell]],
            },
        }],
        loss_curves: vec![LossCurves {
            run: "centered-square".into(),
            iterations: vec![0, 10, 20],
            terms: vec![LossTerm {
                name: "cycle".into(),
                values: vec![3.0, 2.0, 1.5],
            }],
        }],
    }
}

#[test]
fn figures_are_pngs_of_expected_size() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let out = dir.path().join("report");
    write_report(&example_input(&images), &out).unwrap();

    let figures = out.join("figures");
    assert_eq!(
        png_size(&figures.join("fid_centered-square_A.png")),
        (700, 600)
    );
    assert_eq!(
        png_size(&figures.join("fid_multi-rectangles_B_vs_paper.png")),
        (1400, 600)
    );
    assert_eq!(
        png_size(&figures.join("losses_centered-square.png")),
        (900, 560)
    );
    // Three columns of 128-pixel tiles with 6-pixel gaps and 16-pixel margins; two rows
    // under a 40-pixel title.
    assert_eq!(
        png_size(&figures.join("grid_centered.png")),
        (2 * 16 + 3 * 128 + 2 * 6, 2 * 16 + 40 + 2 * 128 + 6)
    );
    // One tile, so the figure takes its minimum width of 360.
    assert_eq!(
        png_size(&figures.join("masks.png")),
        (360, 2 * 16 + 40 + 128 + 24)
    );
}

#[test]
fn markdown_holds_four_matrices() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let out = dir.path().join("report");
    write_report(&example_input(&images), &out).unwrap();
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();

    for heading in [
        "### Trained with centered-square, side A",
        "### Trained with centered-square, side B",
        "### Trained with multi-rectangles, side A",
        "### Trained with multi-rectangles, side B",
    ] {
        assert!(markdown.contains(heading), "missing {heading}");
    }
    // One value of each matrix, ours beside the paper's.
    for cell in [
        "205.69 (205.69)",
        "101.17 (101.17)",
        "206.94 (206.94)",
        "84.83 (84.83)",
    ] {
        assert!(markdown.contains(cell), "missing {cell}");
    }
    assert_eq!(markdown.matches("### Claim").count(), 5);
    assert_eq!(markdown.matches(": PASS").count(), 5);
    assert!(markdown.contains("figures/fid_centered-square_A_vs_paper.png"));
}

#[test]
fn report_without_paper_skips_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let out = dir.path().join("report");
    let input = ReportInput {
        compare_with_paper: false,
        ..example_input(&images)
    };
    let summary = write_report(&input, &out).unwrap();
    let markdown = std::fs::read_to_string(out.join("report.md")).unwrap();

    assert!(summary.claims.is_empty());
    assert!(markdown.contains("205.69"));
    assert!(!markdown.contains("205.69 (205.69)"));
    assert!(!markdown.contains("PASS"));
    assert!(!markdown.contains("_vs_paper.png"));
    assert!(markdown.contains("figures/fid_centered-square_A.png"));
    assert!(!out
        .join("figures/fid_centered-square_A_vs_paper.png")
        .exists());
}

#[test]
fn long_grid_title_fits_the_figure() {
    let dir = tempfile::tempdir().unwrap();
    let mask = write_gray(&dir.path().join("mask.png"), 255);
    let cell = write_gray(&dir.path().join("cell.png"), 180);
    let grid = OutputGrid {
        title: "Trained with multi-rectangles masks, translated with multi-rectangles masks".into(),
        masks: vec![mask.clone(), mask.clone(), mask],
        sources: vec![cell.clone()],
        cells: vec![vec![cell.clone(), cell.clone(), cell]],
    };
    let path = dir.path().join("grid.png");
    draw_output_grid(&grid, &path).unwrap();

    // The title band is the top of the figure; text cut off at the right edge would leave
    // dark pixels in the last columns.
    let image = image::open(&path).unwrap().to_rgb8();
    let band = image.height().min(40);
    for x in image.width() - 4..image.width() {
        for y in 0..band {
            let pixel = image.get_pixel(x, y);
            assert!(
                pixel.0.iter().all(|&value| value > 200),
                "dark pixel at {x}, {y}"
            );
        }
    }
}

#[test]
fn tables_hold_every_pair() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let out = dir.path().join("report");
    write_report(&example_input(&images), &out).unwrap();

    let csv = std::fs::read_to_string(out.join("tables/fid.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("training_masks,side,row,column,fid,paper_fid")
    );
    // Four matrices of ten pairs below the diagonal.
    assert_eq!(lines.count(), 40);
    assert!(csv.contains("centered-square,B,test,scale=0.80,101.17,101.17"));

    let parquet = std::fs::File::open(out.join("tables/fid.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(parquet)
        .unwrap()
        .build()
        .unwrap();
    let rows: usize = reader.map(|batch| batch.unwrap().num_rows()).sum();
    assert_eq!(rows, 40);
}

#[test]
fn grid_with_missing_cells_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = example_input(dir.path());
    input.output_grids[0].grid.cells[0].pop();
    let error = write_report(&input, &dir.path().join("report"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("Centered masks"), "{error}");
}
