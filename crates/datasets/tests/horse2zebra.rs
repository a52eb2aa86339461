//! The shared horse2zebra archive: every image decodes, the digest ignores the container, and
//! a dataset output keeps the original bytes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use datasets::{DatasetError, DatasetParams, NoProgress, SourceDataset};
use sha2::{Digest, Sha256};

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

/// Reads the archive's files as (member name, bytes) with the zip crate directly.
fn zip_members(archive: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut members = Vec::new();
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).unwrap();
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members.push((name, bytes));
    }
    members
}

#[test]
fn every_horse2zebra_image_decodes() {
    let Some(archive) = shared("datasets/horse2zebra.zip") else {
        return;
    };
    let mut source = SourceDataset::open(&archive).expect("the archive opens");
    let mut per_folder: BTreeMap<String, usize> = BTreeMap::new();
    let mut gray = Vec::new();
    for index in 0..source.images().len() {
        let bytes = source.read(index).expect("member is readable");
        let name = source.describe(index);
        let decoded = imaging::decode(&bytes, &name).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(decoded.rgb.dimensions(), (256, 256), "{name}");
        if decoded.source_channels == 1 {
            let file = &source.images()[index].file;
            assert!(decoded
                .rgb
                .pixels()
                .all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2]));
            gray.push(format!("{}/{file}", source.images()[index].folder));
        }
        *per_folder
            .entry(source.images()[index].folder.name())
            .or_default() += 1;
    }

    assert_eq!(per_folder["trainA"], 1067);
    assert_eq!(per_folder["trainB"], 1334);
    assert_eq!(per_folder["testA"], 120);
    assert_eq!(per_folder["testB"], 140);
    let expected_gray: Vec<String> = [226, 2341, 2361, 2757, 7503, 8008, 9726]
        .iter()
        .map(|k| format!("trainB/n02391049_{k}.jpg"))
        .collect();
    let mut expected_sorted = expected_gray.clone();
    expected_sorted.sort();
    assert_eq!(gray, expected_sorted);
}

#[test]
fn digest_equals_independent_computation() {
    let Some(archive) = shared("datasets/horse2zebra.zip") else {
        return;
    };
    // The digest rule, written out again: blake3 over the images sorted by their name inside
    // the layout, each as (name length, name, byte length, bytes) with u64 little-endian
    // lengths.
    let mut members: Vec<(String, Vec<u8>)> = zip_members(&archive)
        .into_iter()
        .map(|(name, bytes)| (name.trim_start_matches("horse2zebra/").to_owned(), bytes))
        .collect();
    members.sort();
    let mut hasher = blake3::Hasher::new();
    for (name, bytes) in &members {
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let expected = hasher.finalize().to_hex().to_string();

    let mut source = SourceDataset::open(&archive).expect("the archive opens");
    assert_eq!(source.content_digest().expect("digest"), expected);
}

#[test]
fn repacked_copy_has_same_digest() {
    let Some(archive) = shared("datasets/horse2zebra.zip") else {
        return;
    };
    let members: Vec<(String, Vec<u8>)> = zip_members(&archive)
        .into_iter()
        .filter(|(name, _)| name.ends_with("_1001.jpg") || name.contains("n02381460_1"))
        .take(40)
        .collect();
    let folder = tempfile::tempdir().unwrap();

    // A zip in the CycleGAN layout, members in reverse order and compressed.
    let zip_path = folder.path().join("repacked.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for (name, bytes) in members.iter().rev() {
        writer
            .start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap();

    // A folder in the train/A layout with an extra non-image file.
    let tree = folder.path().join("tree");
    for (name, bytes) in &members {
        let relative = name
            .trim_start_matches("horse2zebra/")
            .replace("trainA/", "train/A/")
            .replace("trainB/", "train/B/")
            .replace("testA/", "test/A/")
            .replace("testB/", "test/B/");
        let path = tree.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    std::fs::write(tree.join("metadata.csv"), "not an image").unwrap();

    let zip_digest = SourceDataset::open(&zip_path)
        .unwrap()
        .content_digest()
        .unwrap();
    let tree_digest = SourceDataset::open(&tree)
        .unwrap()
        .content_digest()
        .unwrap();
    assert_eq!(zip_digest, tree_digest);
}

#[test]
fn dataset_output_keeps_original_bytes() {
    let Some(archive) = shared("datasets/horse2zebra.zip") else {
        return;
    };
    let Some(sums) = shared("datasets/horse2zebra.sha256") else {
        return;
    };
    let published: BTreeMap<String, String> = std::fs::read_to_string(sums)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (sum, path) = line.split_once("  ")?;
            Some((
                path.trim_start_matches("horse2zebra/").to_owned(),
                sum.to_owned(),
            ))
        })
        .collect();
    assert_eq!(published.len(), 2661);

    let out = tempfile::tempdir().unwrap();
    let mut params = DatasetParams::named("horse2zebra");
    params.archive = Some(archive);
    params.limit_per_split = Some(3);
    let summary = datasets::materialize(&params, out.path(), &NoProgress).expect("builds");
    assert_eq!(summary.images_per_folder.values().sum::<usize>(), 12);

    for folder in ["trainA", "trainB", "testA", "testB"] {
        let mut files: Vec<String> = std::fs::read_dir(out.path().join(folder))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let expected: Vec<&String> = published
            .keys()
            .filter(|name| name.starts_with(&format!("{folder}/")))
            .take(3)
            .collect();
        assert_eq!(files.len(), 3, "{folder}");
        for (file, expected_name) in files.iter().zip(expected) {
            assert_eq!(
                &format!("{folder}/{file}"),
                expected_name,
                "first files in name order"
            );
            let bytes = std::fs::read(out.path().join(folder).join(file)).unwrap();
            let sum = format!("{:x}", Sha256::digest(&bytes));
            assert_eq!(sum, published[expected_name], "{expected_name}");
        }
    }
    assert!(out.path().join("manifest.parquet").is_file());
}

#[test]
fn digest_mismatch_names_both_digests() {
    let Some(archive) = shared("fixtures/imaging/real") else {
        return;
    };
    // A folder of 12 real images is not a layout, so build a small one.
    let tree = tempfile::tempdir().unwrap();
    let train_a = tree.path().join("trainA");
    std::fs::create_dir_all(&train_a).unwrap();
    std::fs::copy(archive.join("n02381460_1003.jpg"), train_a.join("a.jpg")).unwrap();

    let out = tempfile::tempdir().unwrap();
    let mut params = DatasetParams::named("local");
    params.archive = Some(tree.path().to_owned());
    params.digest = Some("0".repeat(64));
    let error = datasets::materialize(&params, out.path(), &NoProgress).expect_err("mismatch");
    let DatasetError::DigestMismatch {
        expected, actual, ..
    } = &error
    else {
        panic!("expected a digest mismatch, got {error}");
    };
    let message = error.to_string();
    assert!(message.contains(expected.as_str()), "{message}");
    assert!(message.contains(actual.as_str()), "{message}");
}

#[test]
fn unreadable_image_fails_or_is_skipped() {
    let Some(cases) = shared("fixtures/imaging/cases") else {
        return;
    };
    let tree = tempfile::tempdir().unwrap();
    let train_a = tree.path().join("trainA");
    std::fs::create_dir_all(&train_a).unwrap();
    std::fs::copy(cases.join("gray.jpg"), train_a.join("good.jpg")).unwrap();
    std::fs::copy(cases.join("truncated.jpg"), train_a.join("broken.jpg")).unwrap();

    let mut params = DatasetParams::named("local");
    params.archive = Some(tree.path().to_owned());
    let out = tempfile::tempdir().unwrap();
    let error = datasets::materialize(&params, out.path(), &NoProgress).expect_err("truncated");
    assert!(error.to_string().contains("broken.jpg"), "{error}");
    assert!(error.to_string().contains("1 of 2 images"), "{error}");

    params.skip_unreadable = true;
    let out = tempfile::tempdir().unwrap();
    let summary = datasets::materialize(&params, out.path(), &NoProgress).expect("skips");
    assert_eq!(summary.skipped, 1);
    assert_eq!(summary.images_per_folder["trainA"], 1);
    assert!(out.path().join("trainA/good.jpg").is_file());
    assert!(!out.path().join("trainA/broken.jpg").exists());
}

#[test]
fn unreadable_images_are_counted() {
    let Some(cases) = shared("fixtures/imaging/cases") else {
        return;
    };
    let tree = tempfile::tempdir().unwrap();
    let train_a = tree.path().join("trainA");
    std::fs::create_dir_all(&train_a).unwrap();
    std::fs::copy(cases.join("gray.jpg"), train_a.join("good.jpg")).unwrap();
    for index in 0..5 {
        let name = format!("broken{index}.jpg");
        std::fs::copy(cases.join("truncated.jpg"), train_a.join(name)).unwrap();
    }

    let mut params = DatasetParams::named("local");
    params.archive = Some(tree.path().to_owned());
    let out = tempfile::tempdir().unwrap();
    let error = datasets::materialize(&params, out.path(), &NoProgress).expect_err("truncated");
    let message = error.to_string();
    assert!(message.contains("5 of 6 images"), "{message}");
    assert!(message.contains("broken0.jpg"), "{message}");
    assert!(message.contains("broken2.jpg"), "{message}");
    assert!(!message.contains("broken3.jpg"), "{message}");
    assert!(message.contains("`skip_unreadable: true`"), "{message}");
}

#[test]
fn missing_unknown_source_is_an_error() {
    let out = tempfile::tempdir().unwrap();
    let mut params = DatasetParams::named("no-such-set");
    params.archive = Some(out.path().join("absent.zip"));
    let error = datasets::materialize(&params, out.path(), &NoProgress).expect_err("missing");
    assert!(
        matches!(error, DatasetError::MissingSource { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("absent.zip"), "{error}");
}

#[test]
fn manifest_lists_every_written_image() {
    use arrow::array::{Array, StringArray, UInt32Array, UInt64Array, UInt8Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let Some(real) = shared("fixtures/imaging/real") else {
        return;
    };
    let tree = tempfile::tempdir().unwrap();
    let placements = [
        ("train/A", "n02381460_1003.jpg"),
        ("train/B", "n02391049_226.jpg"),
        ("test/B", "n02391049_2341.jpg"),
    ];
    for (folder, file) in placements {
        std::fs::create_dir_all(tree.path().join(folder)).unwrap();
        std::fs::copy(real.join(file), tree.path().join(folder).join(file)).unwrap();
    }

    let mut params = DatasetParams::named("local");
    params.archive = Some(tree.path().to_owned());
    let out = tempfile::tempdir().unwrap();
    datasets::materialize(&params, out.path(), &NoProgress).expect("builds");

    let file = std::fs::File::open(out.path().join("manifest.parquet")).unwrap();
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let batch = &batches[0];
    assert_eq!(batch.num_rows(), 3);
    let column = |name: &str| batch.column_by_name(name).unwrap().clone();
    let strings = |name: &str| {
        let array = column(name);
        let array = array.as_any().downcast_ref::<StringArray>().unwrap();
        (0..array.len())
            .map(|i| array.value(i).to_owned())
            .collect::<Vec<_>>()
    };

    // Rows follow the normalised names: testB, trainA, trainB.
    assert_eq!(strings("split"), ["test", "train", "train"]);
    assert_eq!(strings("domain"), ["B", "A", "B"]);
    assert_eq!(
        strings("file"),
        [
            "n02391049_2341.jpg",
            "n02381460_1003.jpg",
            "n02391049_226.jpg"
        ]
    );
    let channels = column("channels");
    let channels = channels.as_any().downcast_ref::<UInt8Array>().unwrap();
    assert_eq!(
        channels.values().to_vec(),
        [1, 3, 1],
        "the two gray JPEGs have one channel"
    );
    let width = column("width");
    let width = width.as_any().downcast_ref::<UInt32Array>().unwrap();
    assert_eq!(width.values().to_vec(), [256, 256, 256]);

    let bytes = column("bytes");
    let bytes = bytes.as_any().downcast_ref::<UInt64Array>().unwrap();
    let hashes = strings("blake3");
    let folders = ["testB", "trainA", "trainB"];
    for (row, name) in strings("file").iter().enumerate() {
        let content = std::fs::read(out.path().join(folders[row]).join(name)).unwrap();
        assert_eq!(bytes.value(row), content.len() as u64, "{name}");
        assert_eq!(
            hashes[row],
            blake3::hash(&content).to_hex().to_string(),
            "{name}"
        );
    }
}
