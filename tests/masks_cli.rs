//! `pipeline masks` run as a binary: the files it writes, their format, reproducibility,
//! and equality with a bank made by the `mask-bank` stage.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use dag::{Device, Progress, StageContext, StageContextParts, StageKind};
use stages::mask_bank::{Mask, MaskBank};

fn pipeline_masks(out: &Path, flags: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .arg("masks")
        .args(flags)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pipeline masks {flags:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn directory_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// Reads width, height, bit depth and colour type from a PNG's IHDR chunk.
fn png_header(path: &Path) -> (u32, u32, u8, u8) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is no PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (width, height, bytes[24], bytes[25])
}

#[test]
fn centered_bank_files_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("centered");
    pipeline_masks(&out, &["--scheme", "centered-square", "--size", "128"]);

    let names: Vec<String> = directory_bytes(&out).into_keys().collect();
    assert_eq!(
        names,
        [
            "mask_0000.png",
            "mask_0001.png",
            "mask_0002.png",
            "masks.parquet"
        ]
    );
    for name in &names[..3] {
        // Colour type 0 is grayscale, so one channel of 8 bits.
        assert_eq!(png_header(&out.join(name)), (128, 128, 8, 0), "{name}");
    }
    // Reading rejects any value other than 0 and 255.
    let half = Mask::read_png(&out.join("mask_0000.png")).unwrap();
    for index in 0..128 {
        let inside = u8::from((32..=95).contains(&index));
        assert_eq!(half.get(index, 64), inside, "row {index}");
        assert_eq!(half.get(64, index), inside, "column {index}");
    }
    let full = Mask::read_png(&out.join("mask_0002.png")).unwrap();
    assert!(full.values().iter().all(|&value| value == 1));
}

#[test]
fn scales_keep_given_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("centered");
    let flags = [
        "--scheme",
        "centered-square",
        "--size",
        "64",
        "--scales",
        "0.8,0.5",
    ];
    pipeline_masks(&out, &flags);
    let first = Mask::read_png(&out.join("mask_0000.png")).unwrap();
    // Scale 0.8 at size 64 covers rows and columns 6 to 56.
    assert_eq!(first.get(6, 6), 1);
    assert_eq!(first.get(56, 56), 1);
    assert_eq!(first.get(5, 30), 0);
    assert_eq!(first.get(57, 30), 0);
    assert!(!out.join("mask_0002.png").exists());
}

#[test]
fn same_seed_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--scheme",
        "multi-rectangles",
        "--size",
        "64",
        "--count",
        "20",
        "--seed",
        "3",
    ];
    pipeline_masks(&dir.path().join("first"), &flags);
    pipeline_masks(&dir.path().join("second"), &flags);
    let first = directory_bytes(&dir.path().join("first"));
    assert_eq!(first.len(), 21);
    assert_eq!(first, directory_bytes(&dir.path().join("second")));
}

#[test]
fn stage_bank_equals_cli_bank() {
    let dir = tempfile::tempdir().unwrap();
    let cli_out = dir.path().join("cli");
    let flags = [
        "--scheme",
        "multi-rectangles",
        "--size",
        "48",
        "--count",
        "12",
        "--seed",
        "7",
        "--preset",
        "paper",
        "--min-area",
        "0.3",
    ];
    pipeline_masks(&cli_out, &flags);

    let params = serde_json::json!({
        "scheme": "multi-rectangles", "size": 48, "count": 12, "seed": 7,
        "preset": "paper", "min_area": 0.3,
    });
    let canonical = MaskBank.check_params(&params).unwrap();
    let stage_out = dir.path().join("stage");
    std::fs::create_dir(&stage_out).unwrap();
    let mut context = StageContext::new(StageContextParts {
        stage: "masks".into(),
        key: "test".into(),
        params: canonical,
        inputs: Vec::new(),
        out_dir: stage_out.clone(),
        scratch_dir: dir.path().join("scratch"),
        log_path: dir.path().join("log.txt"),
        device: Device::Cpu,
        threads: 1,
        progress: Progress::hidden(),
        cancelled: Arc::new(AtomicBool::new(false)),
    });
    MaskBank.run(&mut context).unwrap();

    assert_eq!(directory_bytes(&stage_out), directory_bytes(&cli_out));
}

#[test]
fn unknown_scheme_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["masks", "--scheme", "hexagons", "--size", "32", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hexagons"), "{stderr}");
}

#[test]
fn foreign_flag_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args([
            "masks", "--scheme", "round", "--size", "32", "--scales", "0.5", "--out",
        ])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scales"), "{stderr}");
}

#[test]
fn pipeline_run_bank_equals_cli() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "stages:\n  rects:\n    kind: mask-bank\n    params: {scheme: multi-rectangles, \
                size: 48, count: 12, seed: 7, preset: paper, min_area: 0.3}\n    \
                publish: published/rects\n";
    std::fs::write(dir.path().join("pipeline.yaml"), spec).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["run", "--cache", "cache", "--jobs", "1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pipeline run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let cli_out = dir.path().join("cli");
    let flags = [
        "--scheme",
        "multi-rectangles",
        "--size",
        "48",
        "--count",
        "12",
        "--seed",
        "7",
        "--preset",
        "paper",
        "--min-area",
        "0.3",
    ];
    pipeline_masks(&cli_out, &flags);
    // Publishing may add a hidden marker file beside the bank.
    let mut published = directory_bytes(&dir.path().join("published/rects"));
    published.retain(|name, _| !name.starts_with('.'));
    assert_eq!(published.len(), 13);
    assert_eq!(published, directory_bytes(&cli_out));
}

#[test]
fn round_bank_follows_radii_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("round");
    let flags = ["--scheme", "round", "--size", "64", "--radii", "0.9,0.3"];
    pipeline_masks(&out, &flags);
    let names: Vec<String> = directory_bytes(&out).into_keys().collect();
    assert_eq!(names, ["mask_0000.png", "mask_0001.png", "masks.parquet"]);
    for name in &names[..2] {
        assert_eq!(png_header(&out.join(name)), (64, 64, 8, 0), "{name}");
    }
    // A pixel is masked when its centre lies within radius * 32 of the centre (32, 32).
    // Radius 0.9: 28.8 pixels, so column 60 (centre 60.5) is in and column 61 is out.
    let large = Mask::read_png(&out.join("mask_0000.png")).unwrap();
    assert_eq!(large.get(32, 60), 1);
    assert_eq!(large.get(32, 61), 0);
    assert_eq!(large.get(3, 32), 1);
    assert_eq!(large.get(2, 32), 0);
    // Radius 0.3: 9.6 pixels, so column 41 (centre 41.5) is in and column 42 is out.
    let small = Mask::read_png(&out.join("mask_0001.png")).unwrap();
    assert_eq!(small.get(32, 41), 1);
    assert_eq!(small.get(32, 42), 0);
    assert_eq!(small.get(22, 32), 1);
    assert_eq!(small.get(21, 32), 0);
}

#[test]
fn attention_maps_become_masks() {
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("maps");
    std::fs::create_dir(&maps).unwrap();
    // Map "a": value 32 * column, so 0, 32, ..., 224 across; map "b": 100 everywhere.
    let mut ramp = Mask::empty(8).to_gray_image();
    let mut flat = Mask::empty(8).to_gray_image();
    for row in 0..8 {
        for column in 0..8 {
            ramp.get_pixel_mut(column, row).0[0] = (32 * column) as u8;
            flat.get_pixel_mut(column, row).0[0] = 100;
        }
    }
    ramp.save(maps.join("a.png")).unwrap();
    flat.save(maps.join("b.png")).unwrap();

    let out = dir.path().join("attention");
    let flags = [
        "--scheme",
        "binary-attention",
        "--size",
        "8",
        "--threshold",
        "0.6",
        "--maps",
        maps.to_str().unwrap(),
    ];
    pipeline_masks(&out, &flags);
    // Masked where value / 255 >= 0.6, that is value >= 153: columns 5, 6 and 7 of map "a"
    // (160, 192, 224), and nothing of map "b" (100).
    let first = Mask::read_png(&out.join("mask_0000.png")).unwrap();
    for row in 0..8 {
        for column in 0..8 {
            assert_eq!(
                first.get(row, column),
                u8::from(column >= 5),
                "({row}, {column})"
            );
        }
    }
    let second = Mask::read_png(&out.join("mask_0001.png")).unwrap();
    assert!(second.values().iter().all(|&value| value == 0));
    assert!(!out.join("mask_0002.png").exists());
}

#[test]
fn bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 4] = [
        &["--scheme", "hexagons", "--size", "32"],
        &["--scheme", "round", "--size", "32", "--scales", "0.5"],
        &[
            "--scheme",
            "centered-square",
            "--size",
            "32",
            "--scales",
            "1.5",
        ],
        &["--scheme", "binary-attention", "--size", "32"],
    ];
    for flags in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .arg("masks")
            .args(flags)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
        assert!(!dir.path().join("out").exists(), "{flags:?} wrote a bank");
    }
}

/// Runs `pipeline masks` with `flags` and an `--out` that must stay unwritten; returns the
/// exit code and stderr.
fn rejected_masks(flags: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .arg("masks")
        .args(flags)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!out.exists(), "{flags:?} wrote a bank");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn huge_size_exits_2_naming_limit() {
    let (code, stderr) = rejected_masks(&["--scheme", "centered-square", "--size", "4000000000"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("--size must be at most 8192"), "{stderr}");
}

#[test]
fn bad_values_name_the_flag() {
    let cases: [(&[&str], &str); 6] = [
        (&["--scheme", "round", "--size", "0"], "--size "),
        (
            &[
                "--scheme",
                "multi-rectangles",
                "--size",
                "32",
                "--count",
                "0",
            ],
            "--count ",
        ),
        (
            &[
                "--scheme",
                "multi-rectangles",
                "--size",
                "32",
                "--min-area",
                "3",
            ],
            "--min-area ",
        ),
        (
            &[
                "--scheme",
                "multi-rectangles",
                "--size",
                "32",
                "--max-rects",
                "1",
            ],
            "--max-rects ",
        ),
        (
            &[
                "--scheme",
                "binary-attention",
                "--size",
                "32",
                "--threshold",
                "2",
            ],
            "--maps ",
        ),
        (
            &[
                "--scheme",
                "round",
                "--size",
                "32",
                "--full-probability",
                "0.5",
            ],
            "--full-probability ",
        ),
    ];
    for (flags, flag) in cases {
        let (code, stderr) = rejected_masks(flags);
        assert_eq!(code, Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(flag), "{flags:?}: {stderr}");
        assert!(!stderr.contains('_'), "{flags:?} names a param: {stderr}");
    }
}

#[test]
fn count_and_seed_rejected_for_fixed_schemes() {
    for (scheme, flag) in [("centered-square", "--count"), ("round", "--seed")] {
        let (code, stderr) = rejected_masks(&["--scheme", scheme, "--size", "32", flag, "3"]);
        assert_eq!(code, Some(2), "{scheme} {flag}: {stderr}");
        assert!(
            stderr.contains(&format!("{flag} applies only to scheme multi-rectangles")),
            "{scheme} {flag}: {stderr}"
        );
    }
}

#[test]
fn stage_size_error_names_size() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "stages:\n  masks:\n    kind: mask-bank\n    \
                params: {scheme: centered-square, size: 0}\n";
    std::fs::write(dir.path().join("pipeline.yaml"), spec).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["run", "--cache", "cache", "--jobs", "1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`size` must be at least 1"), "{stderr}");
    assert!(!stderr.contains("`scheme`"), "{stderr}");
}

#[test]
fn rewrite_replaces_older_bank() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rects");
    let flags = ["--scheme", "multi-rectangles", "--size", "16"];
    pipeline_masks(&out, &[&flags[..], &["--count", "10"]].concat());
    pipeline_masks(&out, &[&flags[..], &["--count", "3"]].concat());

    let names: Vec<String> = directory_bytes(&out).into_keys().collect();
    assert_eq!(
        names,
        [
            "mask_0000.png",
            "mask_0001.png",
            "mask_0002.png",
            "masks.parquet"
        ]
    );
    let siblings: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(siblings, ["rects"]);
}

#[test]
fn foreign_folder_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mine");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["masks", "--scheme", "round", "--size", "16", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&out.display().to_string()), "{stderr}");
    assert!(stderr.contains("notes.txt"), "{stderr}");
    assert!(stderr.contains("new or empty folder"), "{stderr}");
    let names: Vec<String> = directory_bytes(&out).into_keys().collect();
    assert_eq!(names, ["notes.txt"]);
}
