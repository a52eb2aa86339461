//! Decoding edge cases against the reference results in `shared/fixtures/imaging`.

use std::path::{Path, PathBuf};

use imaging::ImageError;

fn fixtures() -> Option<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/imaging");
    if folder.is_dir() {
        Some(folder)
    } else {
        eprintln!("skipped: {} not found", folder.display());
        None
    }
}

struct Case {
    file: String,
    expected: String,
    max_abs: u8,
    mean_abs: f64,
}

/// Reads the first four columns of a fixture table; only the trailing note is ever quoted.
fn read_table(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("fixture table is readable");
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.splitn(5, ',').collect();
            Case {
                file: fields[0].to_owned(),
                expected: fields[1].to_owned(),
                max_abs: fields[2].parse().unwrap_or(0),
                mean_abs: fields[3].parse().unwrap_or(0.0),
            }
        })
        .collect()
}

/// Returns the largest and mean absolute difference over all samples.
fn differences(actual: &image::RgbImage, expected: &image::RgbImage) -> (u8, f64) {
    let mut largest = 0u8;
    let mut total = 0u64;
    for (a, e) in actual.as_raw().iter().zip(expected.as_raw()) {
        let difference = a.abs_diff(*e);
        largest = largest.max(difference);
        total += u64::from(difference);
    }
    (largest, total as f64 / actual.as_raw().len() as f64)
}

#[test]
fn decoding_cases_match_references() {
    let Some(folder) = fixtures() else { return };
    let cases = read_table(&folder.join("cases.csv"));
    assert_eq!(cases.len(), 33, "cases.csv lists 33 cases");

    let mut failures = Vec::new();
    for case in &cases {
        let result = imaging::decode_rgb(folder.join("cases").join(&case.file));
        if let Some(kind) = case.expected.strip_prefix("error:") {
            let matches = matches!(
                (&result, kind),
                (Err(ImageError::Truncated { .. }), "Truncated")
                    | (Err(ImageError::Unrecognized { .. }), "Unrecognized")
                    | (Err(ImageError::TooLarge { .. }), "TooLarge")
            );
            if !matches {
                failures.push(format!(
                    "{}: expected error {kind}, got {result:?}",
                    case.file
                ));
            }
            continue;
        }

        let expected = image::open(folder.join(&case.expected))
            .expect("expected image is a readable PNG")
            .to_rgb8();
        let actual = match result {
            Ok(image) => image,
            Err(error) => {
                failures.push(format!("{}: {error}", case.file));
                continue;
            }
        };
        if actual.dimensions() != expected.dimensions() {
            failures.push(format!(
                "{}: size {:?}, expected {:?}",
                case.file,
                actual.dimensions(),
                expected.dimensions()
            ));
            continue;
        }
        let (largest, mean) = differences(&actual, &expected);
        if largest > case.max_abs || mean > case.mean_abs {
            failures.push(format!(
                "{}: max {largest} mean {mean:.3}, allowed {} / {}",
                case.file, case.max_abs, case.mean_abs
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn real_images_match_pillow_decode() {
    let Some(folder) = fixtures() else { return };
    let text = std::fs::read_to_string(folder.join("real.csv")).expect("real.csv is readable");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (file, decoded, max_abs, mean_abs) = (fields[0], fields[5], fields[6], fields[7]);
        let max_abs: u8 = max_abs.parse().expect("max_abs is a number");
        let mean_abs: f64 = mean_abs.parse().expect("mean_abs is a number");

        let actual = imaging::decode_rgb(folder.join(file)).expect("real image decodes");
        let expected = image::open(folder.join(decoded))
            .expect("decoded reference is a readable PNG")
            .to_rgb8();
        assert_eq!(actual.dimensions(), expected.dimensions(), "{file}");
        let (largest, mean) = differences(&actual, &expected);
        if largest > max_abs || mean > mean_abs {
            failures.push(format!("{file}: max {largest} mean {mean:.3}"));
        }
        count += 1;
    }
    assert_eq!(count, 12);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_name_the_file() {
    let Some(folder) = fixtures() else { return };
    for file in [
        "truncated.jpg",
        "truncated.png",
        "empty.jpg",
        "text.jpg",
        "bomb_65500x65500.jpg",
    ] {
        let error = imaging::decode_rgb(folder.join("cases").join(file))
            .expect_err("a broken file is an error");
        assert!(error.to_string().contains(file), "{error}");
    }
}

#[test]
fn gray_jpeg_reports_one_channel() {
    let Some(folder) = fixtures() else { return };
    let bytes = std::fs::read(folder.join("cases/gray.jpg")).expect("gray.jpg is readable");
    let decoded = imaging::decode(&bytes, "gray.jpg").expect("gray.jpg decodes");
    assert_eq!(decoded.source_channels, 1);
    assert!(decoded
        .rgb
        .pixels()
        .all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
}

#[test]
fn truncated_jpeg_error_is_one_line() {
    let Some(folder) = fixtures() else { return };
    let real = std::fs::read_dir(folder.join("real"))
        .expect("real/ is readable")
        .map(|entry| entry.expect("real/ entry").path())
        .find(|path| path.extension().is_some_and(|extension| extension == "jpg"))
        .expect("real/ has a JPEG");
    let bytes = std::fs::read(&real).expect("the JPEG is readable");
    // Cuts inside the headers, where zune-jpeg reports an I/O error, and inside the scan.
    for length in [100, 300, 1000] {
        let error = imaging::decode(&bytes[..length], "cut.jpg").expect_err("a cut JPEG fails");
        let message = error.to_string();
        assert!(matches!(error, ImageError::Truncated { .. }), "{message}");
        assert!(!message.contains('\n'), "{length} bytes: {message:?}");
    }
}
