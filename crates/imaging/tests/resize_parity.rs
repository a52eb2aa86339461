//! Bicubic resizing against Pillow's `Image.resize(..., BICUBIC)` outputs in
//! `shared/fixtures/imaging/resize` and `shared/fixtures/mnist`.
//!
//! Parity within one grey level is the requirement. The resizer repeats Pillow's fixed-point
//! arithmetic, so these tests require equal samples, which also catches a drift to off-by-one.

use std::path::{Path, PathBuf};

fn shared(relative: &str) -> Option<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(relative);
    if folder.is_dir() {
        Some(folder)
    } else {
        eprintln!("skipped: {} not found", folder.display());
        None
    }
}

fn largest_difference(actual: &[u8], expected: &[u8]) -> u8 {
    actual
        .iter()
        .zip(expected)
        .map(|(a, e)| a.abs_diff(*e))
        .max()
        .unwrap_or(0)
}

#[test]
fn resize_equals_pillow_on_real_images() {
    let Some(folder) = shared("fixtures/imaging/resize") else {
        return;
    };
    let mut stems: Vec<String> = std::fs::read_dir(&folder)
        .expect("resize fixtures are listable")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix("_decoded.png").map(str::to_owned)
        })
        .collect();
    stems.sort();
    assert_eq!(stems.len(), 12, "12 real images");

    let mut failures = Vec::new();
    for stem in &stems {
        let source = image::open(folder.join(format!("{stem}_decoded.png")))
            .expect("decoded reference is readable")
            .to_rgb8();
        for side in [32, 64, 128, 143, 299] {
            let expected = image::open(folder.join(format!("{stem}_{side}.png")))
                .expect("resized reference is readable")
                .to_rgb8();
            let actual = imaging::resize_square(&source, side);
            assert_eq!(actual.dimensions(), expected.dimensions());
            let largest = largest_difference(actual.as_raw(), expected.as_raw());
            if largest > 0 {
                failures.push(format!("{stem} at {side}: {largest} levels"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mnist_upscale_matches_pillow() {
    let Some(folder) = shared("fixtures/mnist") else {
        return;
    };
    for index in 0..16 {
        let file = format!("{index:05}.png");
        let digit = image::open(folder.join("test16").join(&file))
            .expect("digit is readable")
            .to_luma8();
        let expected_gray = image::open(folder.join("resize32").join(&file))
            .expect("resized digit is readable")
            .to_luma8();
        let expected_rgb = image::open(folder.join("resize32_rgb").join(&file))
            .expect("resized RGB digit is readable")
            .to_rgb8();

        let gray = imaging::resize_gray_square(&digit, 32);
        assert!(
            largest_difference(gray.as_raw(), expected_gray.as_raw()) == 0,
            "{file} gray"
        );

        let rgb = imaging::resize_square(&image::DynamicImage::ImageLuma8(digit).to_rgb8(), 32);
        assert!(
            largest_difference(rgb.as_raw(), expected_rgb.as_raw()) == 0,
            "{file} rgb"
        );
    }
}

#[test]
fn loader_side_for_128_is_143() {
    assert_eq!(imaging::loader_resize_side(128), 143);
    assert_eq!(imaging::loader_resize_side(256), 286);
    assert_eq!(imaging::loader_resize_side(32), 35);
}
