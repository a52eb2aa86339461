//! The IDX reader against `shared/fixtures/mnist` and the shared MNIST files.

use std::path::{Path, PathBuf};

use datasets::IdxError;

fn shared(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} not found", path.display());
        None
    }
}

#[test]
fn tiny_files_decode_to_listed_pixels() {
    let Some(folder) = shared("fixtures/mnist/idx") else {
        return;
    };
    for suffix in ["", ".gz"] {
        let images =
            datasets::read_idx_images(folder.join(format!("tiny-images-idx3-ubyte{suffix}")))
                .expect("tiny images are valid");
        assert_eq!((images.count, images.rows, images.columns), (3, 2, 3));
        assert_eq!(
            images.pixels,
            [0, 1, 2, 3, 4, 5, 255, 128, 0, 10, 20, 30, 7, 77, 177, 254, 253, 252]
        );
        assert_eq!(images.image(2).get_pixel(0, 1).0, [254]);
        let labels =
            datasets::read_idx_labels(folder.join(format!("tiny-labels-idx1-ubyte{suffix}")))
                .expect("tiny labels are valid");
        assert_eq!(labels, [7, 0, 9]);
    }
}

#[test]
fn malformed_files_give_listed_errors() {
    let Some(folder) = shared("fixtures/mnist") else {
        return;
    };
    let table = std::fs::read_to_string(folder.join("idx_cases.csv")).expect("table is readable");
    let mut checked = 0;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.splitn(3, ',').collect();
        let (file, expected) = (fields[0], fields[1]);
        let path = folder.join(file);
        let tiny_images = folder.join("idx/tiny-images-idx3-ubyte");
        let result: Result<(), IdxError> = if file.contains("-labels-") {
            datasets::read_mnist(&tiny_images, &path).map(|_| ())
        } else {
            datasets::read_idx_images(&path).map(|_| ())
        };
        let kind = match &result {
            Ok(()) => "ok",
            Err(IdxError::WrongMagic { .. }) => "error:WrongMagic",
            Err(IdxError::UnsupportedType { .. }) => "error:UnsupportedType",
            Err(IdxError::Truncated { .. }) => "error:Truncated",
            Err(IdxError::SizeMismatch { .. }) => "error:SizeMismatch",
            Err(IdxError::CountMismatch { .. }) => "error:CountMismatch",
            Err(IdxError::InvalidLabel { .. }) => "error:InvalidLabel",
            Err(IdxError::Io { .. }) => "error:Io",
        };
        assert_eq!(kind, expected, "{file}: {result:?}");
        if let Err(error) = result {
            let message = error.to_string();
            let named = message.contains(Path::new(file).file_name().unwrap().to_str().unwrap())
                || message.contains("tiny-images");
            assert!(named, "{message}");
        }
        checked += 1;
    }
    assert_eq!(checked, 15);
}

#[test]
fn mnist_test_images_match_fixture_digits() {
    let Some(mnist) = shared("datasets/mnist") else {
        return;
    };
    let Some(fixtures) = shared("fixtures/mnist") else {
        return;
    };
    let (images, labels) = datasets::read_mnist(
        mnist.join("t10k-images-idx3-ubyte.gz"),
        mnist.join("t10k-labels-idx1-ubyte.gz"),
    )
    .expect("MNIST test files are valid");
    assert_eq!(images.count, 10000);
    assert_eq!(&labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    for index in 0..16 {
        let expected = image::open(fixtures.join(format!("test16/{index:05}.png")))
            .expect("fixture digit is readable")
            .to_luma8();
        assert_eq!(images.image(index), expected, "digit {index}");
    }
}

#[test]
fn mnist_training_labels_start_as_published() {
    let Some(mnist) = shared("datasets/mnist") else {
        return;
    };
    let labels = datasets::read_idx_labels(mnist.join("train-labels-idx1-ubyte.gz"))
        .expect("MNIST training labels are valid");
    assert_eq!(labels.len(), 60000);
    assert_eq!(&labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
}
