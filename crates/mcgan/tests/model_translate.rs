//! Translation of real horse2zebra images with the fixture generator: output layout, the
//! 8-bit conversion, sizes and independence from the batch size.

mod model_fixtures;

use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use mcgan::checkpoint::{load_generator, Direction};
use mcgan::import::import_authors_checkpoint;
use mcgan::translate::{translate, TranslateParams, TranslatePaths};
use model_fixtures::fixture_dir;

/// Extracts the first `count` images of `testA` from the shared horse2zebra archive.
fn extract_test_images(folder: &Path, count: usize) -> Option<Vec<PathBuf>> {
    let archive =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/horse2zebra.zip");
    if !archive.is_file() {
        eprintln!("skipping: {} not found", archive.display());
        return None;
    }
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&archive).unwrap()).unwrap();
    let mut names: Vec<String> = zip
        .file_names()
        .map(|n| n.unwrap().into_owned())
        .filter(|n| n.contains("testA/") && n.ends_with(".jpg"))
        .collect();
    names.sort();
    let mut paths = Vec::new();
    for name in names.into_iter().take(count) {
        let mut bytes = Vec::new();
        zip.by_name(&name).unwrap().read_to_end(&mut bytes).unwrap();
        let path = folder.join(Path::new(&name).file_name().unwrap());
        std::fs::write(&path, bytes).unwrap();
        paths.push(path);
    }
    Some(paths)
}

/// A checkpoint of the fixture generators recording training size 32.
fn fixture_checkpoint(dir: &Path, out: &Path) -> PathBuf {
    let path = out.join("checkpoint.safetensors");
    import_authors_checkpoint(&dir.join("authors_checkpoint"))
        .unwrap()
        .write(&path, Some(32))
        .unwrap();
    path
}

/// The authors' conversion, written out independently of the crate.
fn expected_pixels(image: &Path, checkpoint: &Path, scale_lo: usize, scale_hi: usize) -> Vec<u8> {
    let rgb = imaging::resize_square(&imaging::decode_rgb(image).unwrap(), 32);
    let x = Tensor::from_vec(imaging::to_tensor_data(&rgb), (1, 3, 32, 32), &Device::Cpu).unwrap();
    let mut mask = vec![0f32; 3 * 32 * 32];
    for c in 0..3 {
        for i in scale_lo..scale_hi {
            for j in scale_lo..scale_hi {
                mask[c * 1024 + i * 32 + j] = 1.0;
            }
        }
    }
    let mask = Tensor::from_vec(mask, (1, 3, 32, 32), &Device::Cpu).unwrap();
    let (generator, _) = load_generator(checkpoint, Direction::BToA, &Device::Cpu).unwrap();
    let y = generator.forward(&x, Some(&mask)).unwrap();
    let y = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut pixels = Vec::with_capacity(y.len());
    for index in 0..1024 {
        for c in 0..3 {
            let v = ((y[c * 1024 + index] * 0.5 + 0.5) * 255.0 + 0.5).floor();
            pixels.push(v.clamp(0.0, 255.0) as u8);
        }
    }
    pixels
}

fn run(params: &TranslateParams, checkpoint: &Path, images: &Path, out: &Path) {
    let paths = TranslatePaths {
        checkpoint,
        images,
        masks: None,
        out_dir: out,
    };
    translate(params, paths, &Device::Cpu, &mut |_| {}, &|| false).unwrap();
}

#[test]
fn translation_writes_converted_pngs() {
    let Some(dir) = fixture_dir() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let images = scratch.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let Some(inputs) = extract_test_images(&images, 3) else {
        return;
    };
    let checkpoint = fixture_checkpoint(&dir, scratch.path());

    let out = scratch.path().join("out");
    let mut params = TranslateParams::new(Direction::BToA);
    params.batch = 2;
    run(&params, &checkpoint, &images, &out);

    for scale in ["scale=0.50", "scale=0.80", "scale=1.00"] {
        let written = std::fs::read_dir(out.join(scale)).unwrap().count();
        assert_eq!(written, 3, "{scale}");
    }
    // Size 32, scale 0.5: mid 16, rows and columns 8..24.
    for input in &inputs {
        let stem = input.file_stem().unwrap().to_string_lossy();
        let output = out.join("scale=0.50").join(format!("{stem}.png"));
        let decoded = imaging::decode_rgb(&output).unwrap();
        assert_eq!(decoded.dimensions(), (32, 32));
        let expected = expected_pixels(input, &checkpoint, 8, 24);
        assert_eq!(decoded.as_raw(), &expected, "{stem}");
    }
}

#[test]
fn batch_size_leaves_bytes_unchanged() {
    let Some(dir) = fixture_dir() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let images = scratch.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let Some(inputs) = extract_test_images(&images, 3) else {
        return;
    };
    let checkpoint = fixture_checkpoint(&dir, scratch.path());

    let mut params = TranslateParams::new(Direction::AToB);
    params.scales = vec![0.8];
    params.batch = 1;
    run(&params, &checkpoint, &images, &scratch.path().join("one"));
    params.batch = 3;
    run(&params, &checkpoint, &images, &scratch.path().join("three"));
    for input in &inputs {
        let name = format!("{}.png", input.file_stem().unwrap().to_string_lossy());
        let one = std::fs::read(scratch.path().join("one/scale=0.80").join(&name)).unwrap();
        let three = std::fs::read(scratch.path().join("three/scale=0.80").join(&name)).unwrap();
        assert!(one == three, "{name} differs between batch sizes");
    }
}

#[test]
fn imported_checkpoint_needs_square_inputs_or_size() {
    let Some(dir) = fixture_dir() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let images = scratch.path().join("images");
    std::fs::create_dir(&images).unwrap();
    if extract_test_images(&images, 2).is_none() {
        return;
    }
    let checkpoint = scratch.path().join("imported.safetensors");
    import_authors_checkpoint(&dir.join("authors_checkpoint"))
        .unwrap()
        .write(&checkpoint, None)
        .unwrap();

    let mut params = TranslateParams::new(Direction::AToB);
    params.scales = vec![1.0];
    let out = scratch.path().join("from-inputs");
    run(&params, &checkpoint, &images, &out);
    let first = std::fs::read_dir(out.join("scale=1.00"))
        .unwrap()
        .next()
        .unwrap();
    let decoded = imaging::decode_rgb(first.unwrap().path()).unwrap();
    assert_eq!(decoded.dimensions(), (256, 256), "size from the inputs");

    params.size = Some(16);
    let out = scratch.path().join("sized");
    run(&params, &checkpoint, &images, &out);
    let first = std::fs::read_dir(out.join("scale=1.00"))
        .unwrap()
        .next()
        .unwrap();
    let decoded = imaging::decode_rgb(first.unwrap().path()).unwrap();
    assert_eq!(decoded.dimensions(), (16, 16), "size from the params");
}
