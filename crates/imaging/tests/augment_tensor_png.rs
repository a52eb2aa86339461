//! Augmentation, tensor layout and PNG writing.

use image::{GrayImage, Luma, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Returns a 256x256 image whose pixel (x, y) is (x, y, 7), so any crop shows where it came
/// from.
fn coordinate_image() -> RgbImage {
    RgbImage::from_fn(256, 256, |x, y| Rgb([x as u8, y as u8, 7]))
}

#[test]
fn augment_follows_documented_draw_order() {
    let image = RgbImage::from_pixel(200, 200, Rgb([10, 20, 30]));
    let augmented = imaging::augment(&image, 128, &mut ChaCha8Rng::seed_from_u64(3));
    assert_eq!(augmented.dimensions(), (128, 128));

    // A flat image stays flat whatever the crop; the draws themselves are checked through a
    // second generator replaying the documented order: top, left, flip.
    assert!(augmented.pixels().all(|p| *p == Rgb([10, 20, 30])));

    let source = coordinate_image();
    let resized = imaging::resize_square(&source, 143);
    let mut replay = ChaCha8Rng::seed_from_u64(11);
    let top = replay.random_range(0..=143 - 128u32);
    let left = replay.random_range(0..=143 - 128u32);
    let flip = replay.random_bool(0.5);

    let augmented = imaging::augment(&source, 128, &mut ChaCha8Rng::seed_from_u64(11));
    let corner_x = if flip { left + 127 } else { left };
    assert_eq!(augmented.get_pixel(0, 0), resized.get_pixel(corner_x, top));
    let far_x = if flip { left } else { left + 127 };
    assert_eq!(
        augmented.get_pixel(127, 127),
        resized.get_pixel(far_x, top + 127)
    );
}

#[test]
fn augment_same_seed_same_image() {
    let source = coordinate_image();
    let first = imaging::augment(&source, 64, &mut ChaCha8Rng::seed_from_u64(5));
    let second = imaging::augment(&source, 64, &mut ChaCha8Rng::seed_from_u64(5));
    assert_eq!(first, second);
}

#[test]
fn augment_flips_about_half_the_time() {
    let source = coordinate_image();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut flips = 0;
    for _ in 0..200 {
        let augmented = imaging::augment(&source, 32, &mut rng);
        // x grows to the right unless the crop was flipped.
        if augmented.get_pixel(0, 0).0[0] > augmented.get_pixel(31, 0).0[0] {
            flips += 1;
        }
    }
    assert!((70..=130).contains(&flips), "{flips} flips in 200");
}

#[test]
fn tensor_data_is_chw_in_unit_range() {
    let mut image = RgbImage::new(2, 1);
    image.put_pixel(0, 0, Rgb([0, 255, 51]));
    image.put_pixel(1, 0, Rgb([127, 128, 255]));
    let data = imaging::to_tensor_data(&image);
    let expected = [
        -1.0,
        127.0 / 127.5 - 1.0,
        1.0,
        128.0 / 127.5 - 1.0,
        0.4 - 1.0,
        1.0,
    ];
    assert_eq!(data.len(), 6);
    for (actual, expected) in data.iter().zip(expected) {
        assert!((actual - expected).abs() < 1e-6, "{actual} vs {expected}");
    }
}

#[test]
fn png_round_trips_rgb_and_gray() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let rgb = coordinate_image();
    let rgb_path = folder.path().join("rgb.png");
    imaging::write_png(&rgb_path, &rgb).expect("RGB PNG is written");
    let read = image::open(&rgb_path).expect("written PNG opens");
    assert_eq!(read.color(), image::ColorType::Rgb8);
    assert_eq!(read.to_rgb8(), rgb);

    let gray = GrayImage::from_fn(5, 3, |x, y| Luma([(x * 40 + y) as u8]));
    let gray_path = folder.path().join("gray.png");
    imaging::write_png(&gray_path, &gray).expect("gray PNG is written");
    let read = image::open(&gray_path).expect("written PNG opens");
    assert_eq!(read.color(), image::ColorType::L8);
    assert_eq!(read.to_luma8(), gray);

    let leftovers = std::fs::read_dir(folder.path()).expect("listable").count();
    assert_eq!(leftovers, 2, "no temporary files remain");
}

#[test]
fn png_into_missing_folder_fails() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("missing/out.png");
    let error = imaging::write_png(&path, &coordinate_image()).expect_err("no such folder");
    assert!(error.to_string().contains("missing"), "{error}");
}
