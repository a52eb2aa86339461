//! The main job end to end: `pipeline run fid-matrix` on `pipelines/ci.yaml` with the real
//! horse2zebra archive from `../shared/datasets`.
//!
//! The run takes several minutes on two cores, so it happens once and one test makes every
//! check on its cache. The checks cover the published report and its figures, a rerun that
//! reuses every stage, and which stages an FID-only param and a training loss weight make
//! stale. They compare the real-vs-real FID cells with the standalone `pipeline fid`, and end
//! with an FID-only override that reruns exactly the FID stage and the report.
//!
//! The pipeline file is copied into a temporary working directory laid out like the
//! repository (`data/horse2zebra.zip`, `pipelines/ci.yaml`), so its relative paths resolve
//! there: the archive from the working directory, the report's `publish: ../reports/ci` from
//! the pipeline file's folder. Nothing is written into the repository. The Inception weights
//! come from the user cache, as in the other FID tests; the first run on a machine downloads
//! them with pip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const REPOSITORY: &str = env!("CARGO_MANIFEST_DIR");

/// The four FID stages: one per training mask scheme and side.
const FID_STAGES: [&str; 4] = [
    "fid.centered-square.A",
    "fid.centered-square.B",
    "fid.multi-rectangles.A",
    "fid.multi-rectangles.B",
];

/// The paper's train-vs-test FID per side, the same in its Figures 4 and 5 (Mask CycleGAN,
/// Wang et al. 2019); the report shows it in brackets beside ours.
const PAPER_TRAIN_VS_TEST: [(&str, &str); 2] = [("A", "87.91"), ("B", "30.30")];

/// A temporary working directory holding the archive link, the pipeline file and the cache.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new(archive: &Path) -> Self {
        let dir = tempfile::tempdir().expect("create working directory");
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::os::unix::fs::symlink(archive, dir.path().join("data/horse2zebra.zip")).unwrap();
        std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
        std::fs::copy(
            Path::new(REPOSITORY).join("pipelines/ci.yaml"),
            dir.path().join("pipelines/ci.yaml"),
        )
        .expect("copy pipelines/ci.yaml");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    fn report_dir(&self) -> PathBuf {
        self.path().join("reports/ci")
    }

    /// Runs `pipeline ARGS` in the working directory.
    fn pipeline(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(args)
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("start pipeline")
    }

    /// Runs `pipeline run fid-matrix` on the copied file with `extra` arguments, asserts
    /// success and returns the last stdout line.
    fn run_fid_matrix(&self, extra: &[&str]) -> String {
        let mut args = vec![
            "run",
            "fid-matrix",
            "-f",
            "pipelines/ci.yaml",
            "--cache",
            "cache",
        ];
        args.extend_from_slice(extra);
        let output = self.pipeline(&args);
        assert!(
            output.status.success(),
            "pipeline {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        last_line(&output)
    }

    /// `pipeline status --json` (with `extra` arguments) as stage -> reason, `None` when fresh.
    fn status(&self, extra: &[&str]) -> BTreeMap<String, Option<String>> {
        let mut args = vec![
            "status",
            "fid-matrix",
            "--json",
            "-f",
            "pipelines/ci.yaml",
            "--cache",
            "cache",
        ];
        args.extend_from_slice(extra);
        let output = self.pipeline(&args);
        assert!(
            output.status.success(),
            "pipeline {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rows: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("status --json prints JSON");
        rows.as_array()
            .expect("status --json prints an array")
            .iter()
            .map(|row| {
                let stage = row["stage"].as_str().expect("stage").to_string();
                (stage, row["reason"].as_str().map(str::to_string))
            })
            .collect()
    }

    /// Finds the stored object of `path` in the output of `stage`'s last run, through the run
    /// record's manifest (`names/`, `runs/` and `objects/` of the store layout).
    fn stored_file(&self, stage: &str, path: &str) -> PathBuf {
        self.stored_files(stage, path)
            .into_iter()
            .find(|(relative, _)| relative == path)
            .unwrap_or_else(|| panic!("stage {stage} has no output file {path}"))
            .1
    }

    /// Lists the stored files under `prefix` in the output of `stage`'s last run, as (path in
    /// the output tree, object path).
    fn stored_files(&self, stage: &str, prefix: &str) -> Vec<(String, PathBuf)> {
        let cache = self.cache();
        let name_record = read_json(&cache.join("names").join(format!("{stage}.json")));
        let key = name_record["key"].as_str().expect("names record has a key");
        let run_record = read_json(&cache.join("runs").join(format!("{key}.json")));
        run_record["manifest"]
            .as_array()
            .expect("run record has a manifest")
            .iter()
            .filter(|entry| entry["kind"] == "file")
            .filter_map(|entry| {
                let path = entry["path"].as_str()?;
                let digest = entry["digest"].as_str()?;
                let object = cache.join("objects").join(&digest[..2]).join(digest);
                path.starts_with(prefix).then(|| (path.to_string(), object))
            })
            .collect()
    }

    /// Reads the row of an FID stage's `fid.parquet` that compares the real train and test
    /// sets.
    fn stage_train_vs_test(&self, stage: &str) -> fid::pairwise::PairResult {
        let table = self.stored_file(stage, "fid.parquet");
        let results = fid::pairwise::read_parquet(&table).unwrap();
        results
            .into_iter()
            .find(|row| {
                (row.a == "train" && row.b == "test") || (row.a == "test" && row.b == "train")
            })
            .unwrap_or_else(|| panic!("{stage}: no train-vs-test row in fid.parquet"))
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn last_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn archive() -> Option<PathBuf> {
    let path = Path::new(REPOSITORY).join("../shared/datasets/horse2zebra.zip");
    if path.is_file() {
        Some(path.canonicalize().unwrap())
    } else {
        eprintln!("skipping: {} is absent", path.display());
        None
    }
}

/// Lists the stale stages, sorted by name.
fn stale_stages(status: &BTreeMap<String, Option<String>>) -> Vec<&str> {
    status
        .iter()
        .filter(|(_, reason)| reason.is_some())
        .map(|(stage, _)| stage.as_str())
        .collect()
}

fn reason<'a>(status: &'a BTreeMap<String, Option<String>>, stage: &str) -> &'a str {
    status
        .get(stage)
        .unwrap_or_else(|| panic!("stage {stage} missing from status"))
        .as_deref()
        .unwrap_or_else(|| panic!("stage {stage} is fresh"))
}

#[test]
fn fid_matrix_runs_reuses_and_matches_standalone_fid() {
    let Some(archive) = archive() else {
        return;
    };
    let workspace = Workspace::new(&archive);
    let stage_count = workspace.status(&[]).len();

    let started = Instant::now();
    let first = workspace.run_fid_matrix(&[]);
    eprintln!("first run: {:.0} s", started.elapsed().as_secs_f64());
    assert_eq!(
        first,
        format!("{stage_count} stages run, 0 reused from cache")
    );

    check_report(&workspace.report_dir());

    let second = workspace.run_fid_matrix(&[]);
    assert_eq!(
        second,
        format!("0 stages run, {stage_count} reused from cache")
    );
    let status = workspace.status(&[]);
    assert_eq!(stale_stages(&status), Vec::<&str>::new());

    check_fid_param_makes_fid_and_report_stale(&workspace);
    check_loss_weight_makes_training_and_after_stale(&workspace);
    check_real_cells_match_standalone_fid(&workspace);
    check_fid_override_reruns_fid_and_report(&workspace, stage_count);
    eprintln!("whole test: {:.0} s", started.elapsed().as_secs_f64());
}

/// Checks that `report.md` contains the four FID matrices and the five claims, that every file
/// it links exists, and that every figure is a PNG that decodes.
fn check_report(report_dir: &Path) {
    let report = std::fs::read_to_string(report_dir.join("report.md")).expect("report.md");

    for stage in FID_STAGES {
        let (_, scheme_and_side) = stage.split_once('.').unwrap();
        let (scheme, side) = scheme_and_side.rsplit_once('.').unwrap();
        let heading = format!("### Trained with {scheme}, side {side}\n");
        assert_eq!(
            report.matches(&heading).count(),
            2,
            "FID and KID tables: {heading}"
        );
        let table = report
            .split(&heading)
            .nth(1)
            .and_then(|rest| rest.trim_start().split("\n\n").next())
            .unwrap_or_else(|| panic!("no table after {heading}"));
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(
            rows[0], "| | scale=0.50 | scale=0.80 | scale=1.00 | train |",
            "{heading}"
        );
        let labels: Vec<&str> = rows[2..]
            .iter()
            .map(|row| row.split('|').nth(1).unwrap().trim())
            .collect();
        assert_eq!(
            labels,
            ["**scale=0.80**", "**scale=1.00**", "**train**", "**test**"],
            "{heading}"
        );
        let paper = PAPER_TRAIN_VS_TEST
            .iter()
            .find(|(paper_side, _)| *paper_side == side)
            .unwrap()
            .1;
        assert!(
            rows[5].ends_with(&format!(" ({paper}) |")),
            "{heading}: the test row ends with the paper's train-vs-test value {paper}: {}",
            rows[5]
        );
    }

    assert!(report.contains("## The paper's five claims\n"));
    for number in 1..=5 {
        let heading = format!("### Claim {number}: ");
        let verdict = report
            .split(&heading)
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap_or_else(|| panic!("claim {number} missing"));
        assert!(
            ["PASS", "FAIL", "NOT CHECKED"].contains(&verdict),
            "claim {number}: {verdict}"
        );
    }
    let claims = std::fs::read_to_string(report_dir.join("tables/claims.csv")).unwrap();
    assert_eq!(
        claims.lines().count(),
        6,
        "header and five claims: {claims}"
    );

    let links = linked_files(&report);
    let figures: Vec<&String> = links
        .iter()
        .filter(|link| link.starts_with("figures/"))
        .collect();
    // Four heat maps (ours beside the paper's), the masks figure, six output grids (two
    // training schemes times three mask banks) and two loss plots.
    assert_eq!(figures.len(), 13, "{figures:?}");
    for link in &links {
        let path = report_dir.join(link);
        assert!(path.is_file(), "report.md links {link}, which is missing");
    }

    // Every figure, linked or not (the single heat maps are not), is a PNG that decodes.
    let figures_dir = report_dir.join("figures");
    let mut figure_files = 0;
    for entry in std::fs::read_dir(&figures_dir).expect("figures/") {
        let path = entry.unwrap().path();
        assert_png(&path);
        figure_files += 1;
    }
    assert!(
        figure_files >= figures.len(),
        "{figure_files} files in figures/"
    );
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{}: not a PNG",
        path.display()
    );
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    assert!(image.width() > 0, "{}", path.display());
    assert!(image.height() > 0, "{}", path.display());
}

/// Returns the targets of the Markdown links and images (`[text](target)`) of `markdown`.
fn linked_files(markdown: &str) -> Vec<String> {
    markdown
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')'))
        .map(|(target, _)| target.to_string())
        .collect()
}

/// Checks that an FID-only param reaches the FID stage it is set on and the report, and
/// nothing else.
fn check_fid_param_makes_fid_and_report_stale(workspace: &Workspace) {
    let status = workspace.status(&["--set", "fid.centered-square.A.seed=2"]);
    assert_eq!(stale_stages(&status), ["fid.centered-square.A", "report"]);
    assert_eq!(
        reason(&status, "fid.centered-square.A"),
        "param changed: seed"
    );
    assert_eq!(
        reason(&status, "report"),
        "input changed: fid.centered-square.A"
    );

    // Set on the matrix stage's name, the param reaches all four FID stages.
    let status = workspace.status(&["--set", "fid.drop_last_batch=25"]);
    let mut expected: Vec<&str> = FID_STAGES.to_vec();
    expected.push("report");
    assert_eq!(stale_stages(&status), expected);
    for stage in FID_STAGES {
        assert_eq!(reason(&status, stage), "param changed: drop_last_batch");
    }
    let report_reason = reason(&status, "report");
    let upstream = report_reason
        .strip_prefix("input changed: ")
        .unwrap_or_else(|| panic!("report: {report_reason}"));
    assert!(FID_STAGES.contains(&upstream), "report: {report_reason}");
}

/// Checks that a loss weight of one training run reaches that run, its translations and grids,
/// their features, that scheme's FID and the report. The data, real features, mask banks and
/// the other scheme stay fresh.
fn check_loss_weight_makes_training_and_after_stale(workspace: &Workspace) {
    let status = workspace.status(&["--set", "train.centered-square.lambda_cyc=5"]);
    let mut expected = vec![
        "train.centered-square".to_string(),
        "translate-A.centered-square".to_string(),
        "translate-B.centered-square".to_string(),
        "fid.centered-square.A".to_string(),
        "fid.centered-square.B".to_string(),
        "report".to_string(),
    ];
    for bank in ["centered-square", "multi-rectangles", "round"] {
        expected.push(format!("grid.centered-square.{bank}"));
    }
    for side in ["A", "B"] {
        for scale in ["scale=0.50", "scale=0.80", "scale=1.00"] {
            expected.push(format!("features.centered-square.{side}.{scale}"));
        }
    }
    expected.sort();
    assert_eq!(stale_stages(&status), expected);

    assert_eq!(
        reason(&status, "train.centered-square"),
        "param changed: lambda_cyc"
    );
    for stage in [
        "translate-A.centered-square",
        "translate-B.centered-square",
        "grid.centered-square.centered-square",
        "grid.centered-square.multi-rectangles",
        "grid.centered-square.round",
    ] {
        assert_eq!(
            reason(&status, stage),
            "input changed: train.centered-square",
            "{stage}"
        );
    }
    for side in ["A", "B"] {
        for scale in ["scale=0.50", "scale=0.80", "scale=1.00"] {
            let stage = format!("features.centered-square.{side}.{scale}");
            assert_eq!(
                reason(&status, &stage),
                format!("input changed: translate-{side}.centered-square"),
                "{stage}"
            );
        }
        let stage = format!("fid.centered-square.{side}");
        let fid_reason = reason(&status, &stage);
        assert!(
            fid_reason.starts_with(&format!("input changed: features.centered-square.{side}.")),
            "{stage}: {fid_reason}"
        );
    }
    let report_reason = reason(&status, "report");
    let upstream = report_reason
        .strip_prefix("input changed: ")
        .unwrap_or_else(|| panic!("report: {report_reason}"));
    assert!(
        expected.iter().any(|stage| stage == upstream),
        "report: {report_reason}"
    );
}

/// Checks that the train-vs-test cells of the FID stages equal what `pipeline fid` prints for
/// the same real sets. Side A starts from the dataset stage's image folders, so it covers the
/// whole path from images. Side B starts from the feature tables of the real sets.
fn check_real_cells_match_standalone_fid(workspace: &Workspace) {
    let real = workspace.path().join("real");
    for folder in ["trainA", "testA"] {
        let files = workspace.stored_files("horse2zebra", &format!("{folder}/"));
        assert!(!files.is_empty(), "the dataset stage wrote no {folder}/");
        for (relative, object) in files {
            let destination = real.join(relative);
            std::fs::create_dir_all(destination.parent().unwrap()).unwrap();
            std::fs::copy(&object, &destination).unwrap();
        }
    }
    let side_a = [
        real.join("trainA").display().to_string(),
        real.join("testA").display().to_string(),
    ];

    let mut side_b = Vec::new();
    for split in ["train", "test"] {
        let table = workspace.stored_file(&format!("features-real.B.{split}"), "features.arrow");
        let copy = real.join(format!("{split}B.arrow"));
        std::fs::copy(table, &copy).unwrap();
        side_b.push(copy.display().to_string());
    }

    for (side, inputs) in [("A", side_a.to_vec()), ("B", side_b)] {
        let mut args = vec!["fid"];
        args.extend(inputs.iter().map(String::as_str));
        // The same settings as the stage: the last partial batch of 50 dropped, KID with seed
        // 1, and the default mode ttur.
        args.extend(["--drop-last-batch", "50", "--kid", "--seed", "1"]);
        let output = workspace.pipeline(&args);
        assert!(
            output.status.success(),
            "pipeline {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        let printed_fid = lines[lines.len() - 1]
            .strip_prefix("FID: ")
            .unwrap_or_else(|| panic!("side {side}: {stdout}"));
        let printed_kid = lines[lines.len() - 2]
            .strip_prefix("KID: ")
            .and_then(|kid| kid.split_once(" +- "))
            .unwrap_or_else(|| panic!("side {side}: {stdout}"))
            .0;

        for scheme in ["centered-square", "multi-rectangles"] {
            let stage = format!("fid.{scheme}.{side}");
            let row = workspace.stage_train_vs_test(&stage);
            assert_eq!(format!("{:.6}", row.fid), printed_fid, "{stage}");
            let kid = row.kid_mean.unwrap_or_else(|| panic!("{stage}: no KID"));
            assert_eq!(format!("{kid:.6}"), printed_kid, "{stage}");
        }
    }
}

/// Checks that a run with an FID-only override reruns the FID stage and the report and
/// nothing else, and leaves the records of the pipeline without the override in place.
fn check_fid_override_reruns_fid_and_report(workspace: &Workspace, stage_count: usize) {
    let rerun = workspace.run_fid_matrix(&["--set", "fid.centered-square.A.seed=2"]);
    assert_eq!(
        rerun,
        format!("2 stages run, {} reused from cache", stage_count - 2)
    );
    let status = workspace.status(&[]);
    assert_eq!(stale_stages(&status), Vec::<&str>::new());
}
