//! The MATLAB v5 reader on small SVHN-shaped files written here, element by element.

use std::io::Write;
use std::path::Path;

use datasets::{MatData, MatError};

/// Builds a data element: tag (type, byte count), data, zero padding to 8 bytes.
fn element(data_type: u32, data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&data_type.to_le_bytes());
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(data);
    while bytes.len() % 8 != 0 {
        bytes.push(0);
    }
    bytes
}

/// Builds a miMATRIX element of class `class` (6 double, 9 uint8) holding `real`, stored as
/// `storage_type` (2 miUINT8, 9 miDOUBLE).
fn matrix(name: &str, class: u32, dimensions: &[i32], storage_type: u32, real: &[u8]) -> Vec<u8> {
    let mut body = element(6, &[class.to_le_bytes(), 0u32.to_le_bytes()].concat());
    let dims: Vec<u8> = dimensions.iter().flat_map(|d| d.to_le_bytes()).collect();
    body.extend(element(5, &dims));
    body.extend(element(1, name.as_bytes()));
    body.extend(element(storage_type, real));
    element(14, &body)
}

fn header() -> Vec<u8> {
    let mut bytes = b"MATLAB 5.0 MAT-file, written by a test".to_vec();
    bytes.resize(116, b' ');
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&0x0100u16.to_le_bytes());
    bytes.extend_from_slice(b"IM");
    bytes
}

/// Pixel value of (row, column, channel, image) in the test files.
fn sample(row: usize, column: usize, channel: usize, image: usize) -> u8 {
    (row * 7 + column * 3 + channel * 50 + image * 11) as u8
}

/// X as MATLAB stores it: column-major [32, 32, 3, count].
fn x_column_major(count: usize) -> Vec<u8> {
    let mut values = Vec::new();
    for image in 0..count {
        for channel in 0..3 {
            for column in 0..32 {
                for row in 0..32 {
                    values.push(sample(row, column, channel, image));
                }
            }
        }
    }
    values
}

fn svhn_file(labels: &[u8], compress: bool, labels_as_uint8: bool) -> Vec<u8> {
    let count = labels.len();
    let x = matrix(
        "X",
        9,
        &[32, 32, 3, count as i32],
        2,
        &x_column_major(count),
    );
    let y = if labels_as_uint8 {
        // MATLAB stores a double array in uint8 when its values fit.
        matrix("y", 6, &[count as i32, 1], 2, labels)
    } else {
        let doubles: Vec<u8> = labels
            .iter()
            .flat_map(|&l| f64::from(l).to_le_bytes())
            .collect();
        matrix("y", 6, &[count as i32, 1], 9, &doubles)
    };
    let mut bytes = header();
    for variable in [x, y] {
        if compress {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&variable).unwrap();
            let compressed = encoder.finish().unwrap();
            bytes.extend_from_slice(&15u32.to_le_bytes());
            bytes.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&compressed);
        } else {
            bytes.extend(variable);
        }
    }
    bytes
}

fn write(folder: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = folder.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn svhn_pixels_are_transposed_to_row_major() {
    let folder = tempfile::tempdir().unwrap();
    for (compress, labels_as_uint8) in [(false, false), (true, false), (false, true)] {
        let path = write(
            folder.path(),
            "svhn.mat",
            &svhn_file(&[1, 10, 5], compress, labels_as_uint8),
        );
        let digits = datasets::read_svhn(&path).expect("the test file is valid");
        assert_eq!(digits.count, 3);
        assert_eq!(digits.labels, [1, 0, 5], "label 10 is the digit 0");
        for image in 0..3 {
            let rgb = digits.image(image);
            for (row, column) in [(0, 0), (5, 17), (31, 2), (31, 31)] {
                let expected: Vec<u8> = (0..3).map(|c| sample(row, column, c, image)).collect();
                let pixel = rgb.get_pixel(column as u32, row as u32);
                assert_eq!(
                    pixel.0.to_vec(),
                    expected,
                    "image {image} row {row} column {column}"
                );
            }
        }
    }
}

#[test]
fn mat_variables_keep_names_and_shapes() {
    let folder = tempfile::tempdir().unwrap();
    let path = write(folder.path(), "svhn.mat", &svhn_file(&[2, 3], false, false));
    let variables = datasets::read_mat(&path).expect("the test file is valid");
    assert_eq!(variables.len(), 2);
    assert_eq!(variables[0].name, "X");
    assert_eq!(variables[0].dimensions, [32, 32, 3, 2]);
    assert_eq!(variables[1].name, "y");
    assert_eq!(variables[1].data, MatData::F64(vec![2.0, 3.0]));
}

#[test]
fn truncated_mat_file_is_an_error() {
    let folder = tempfile::tempdir().unwrap();
    let bytes = svhn_file(&[1, 2], false, false);
    let path = write(folder.path(), "cut.mat", &bytes[..bytes.len() - 100]);
    let error = datasets::read_svhn(&path).expect_err("a cut file is an error");
    assert!(matches!(error, MatError::Truncated { .. }), "{error}");
    assert!(error.to_string().contains("cut.mat"), "{error}");
}

#[test]
fn non_mat_file_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let path = write(folder.path(), "text.mat", &[b'x'; 200]);
    let error = datasets::read_svhn(&path).expect_err("text is not a .mat file");
    assert!(matches!(error, MatError::NotMatV5 { .. }), "{error}");
}

#[test]
fn svhn_label_out_of_range_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let path = write(folder.path(), "bad.mat", &svhn_file(&[1, 11], false, false));
    let error = datasets::read_svhn(&path).expect_err("label 11 is invalid");
    assert!(matches!(error, MatError::WrongShape { .. }), "{error}");
}

fn shared(relative: &str) -> Option<std::path::PathBuf> {
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

/// MNIST-SVHN from MNIST's test files (standing in for the training files, so that the
/// fixture digits apply) and a 16-digit SVHN file written here.
#[test]
fn mnist_svhn_builds_both_domains() {
    let Some(mnist) = shared("datasets/mnist") else {
        return;
    };
    let Some(fixtures) = shared("fixtures/mnist") else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let idx = folder.path().join("mnist");
    std::fs::create_dir_all(&idx).unwrap();
    std::fs::copy(
        mnist.join("t10k-images-idx3-ubyte.gz"),
        idx.join("train-images-idx3-ubyte.gz"),
    )
    .unwrap();
    std::fs::copy(
        mnist.join("t10k-labels-idx1-ubyte.gz"),
        idx.join("train-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let labels: Vec<u8> = (0..16).map(|i| (i % 10 + 1) as u8).collect();
    let svhn = write(
        folder.path(),
        "train_32x32.mat",
        &svhn_file(&labels, true, false),
    );

    let mut params = datasets::DatasetParams::named("mnist-svhn");
    params.archive = Some(idx);
    params.svhn = Some(svhn);
    params.limit_per_split = Some(8);
    let out = folder.path().join("out");
    let summary = datasets::materialize(&params, &out, &datasets::NoProgress).expect("builds");
    for name in ["trainA", "testA", "trainB", "testB"] {
        assert_eq!(summary.images_per_folder[name], 8, "{name}");
    }

    for index in 0..16 {
        let split = if index < 8 { "trainA" } else { "testA" };
        let written = image::open(out.join(format!("{split}/{index:05}.png"))).unwrap();
        assert_eq!(written.color(), image::ColorType::Rgb8);
        let expected = image::open(fixtures.join(format!("resize32_rgb/{index:05}.png")))
            .unwrap()
            .to_rgb8();
        let largest = written
            .to_rgb8()
            .as_raw()
            .iter()
            .zip(expected.as_raw())
            .map(|(a, e)| a.abs_diff(*e))
            .max()
            .unwrap();
        assert!(largest <= 1, "digit {index}: {largest} levels from Pillow");
    }

    let svhn_digit = image::open(out.join("testB/00009.png")).unwrap().to_rgb8();
    assert_eq!(svhn_digit.get_pixel(17, 5).0[1], sample(5, 17, 1, 9));
}
