//! The `dataset` and `resize` stage kinds run one after the other on the shared horse2zebra
//! archive and MNIST files, through the stage registry the binary uses.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use dag::{Device, Input, Progress, StageContext, StageContextParts};
use serde_json::json;

/// Content digest of horse2zebra's 2661 images, computed independently with Python's blake3
/// over the sorted (name length, name, byte length, bytes) records.
const HORSE2ZEBRA_DIGEST: &str = "2d87f954117c642e74f834cefe8f057240116bd995ca73f5dd89b401493e766a";

/// Content digest of MNIST's decompressed training images and labels, computed the same way.
const MNIST_DIGEST: &str = "3f03808efaf24905c9799c721429e3cd5c80cbce9a7d705086ded2df63f585fc";

fn shared(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} not found", path.display());
        None
    }
}

fn run_stage(
    kind_name: &str,
    params: serde_json::Value,
    inputs: Vec<(String, Input)>,
    work: &Path,
) -> anyhow::Result<PathBuf> {
    run_stage_on_threads(kind_name, params, inputs, work, 1)
}

fn run_stage_on_threads(
    kind_name: &str,
    params: serde_json::Value,
    inputs: Vec<(String, Input)>,
    work: &Path,
    threads: usize,
) -> anyhow::Result<PathBuf> {
    let registry = stages::registry();
    let kind = registry
        .get(kind_name)
        .unwrap_or_else(|| panic!("kind {kind_name} is registered"));
    let canonical = kind.check_params(&params).map_err(anyhow::Error::msg)?;
    let out_dir = work.join(kind_name);
    std::fs::create_dir_all(&out_dir)?;
    let mut context = StageContext::new(StageContextParts {
        stage: kind_name.to_owned(),
        key: "test".to_owned(),
        params: canonical,
        inputs,
        out_dir: out_dir.clone(),
        scratch_dir: work.join("scratch"),
        log_path: work.join(format!("{kind_name}.log")),
        device: Device::Cpu,
        threads,
        progress: Progress::hidden(),
        cancelled: Arc::new(AtomicBool::new(false)),
    });
    kind.run(&mut context)?;
    Ok(out_dir)
}

fn files_in(folder: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    files
}

/// Width, height, bit depth and colour type from a PNG's IHDR chunk.
fn png_header(path: &Path) -> (u32, u32, u8, u8) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (width, height, bytes[24], bytes[25])
}

#[test]
fn horse2zebra_dataset_then_resize() {
    let Some(archive) = shared("datasets/horse2zebra.zip") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let params = json!({"name": "horse2zebra", "archive": archive, "digest": HORSE2ZEBRA_DIGEST});
    let dataset = run_stage("dataset", params, vec![], work.path()).expect("dataset runs");

    let counts = [
        ("trainA", 1067),
        ("trainB", 1334),
        ("testA", 120),
        ("testB", 140),
    ];
    for (folder, count) in counts {
        let files = files_in(&dataset.join(folder));
        assert_eq!(files.len(), count, "{folder}");
        assert!(files.iter().all(|file| file.ends_with(".jpg")), "{folder}");
    }
    assert!(dataset.join("manifest.parquet").is_file());

    let inputs = vec![("dataset".to_owned(), Input::Path(dataset.clone()))];
    let resized = run_stage("resize", json!({"size": 32}), inputs, work.path()).expect("resize");
    for (folder, count) in counts {
        let files = files_in(&resized.join(folder));
        assert_eq!(files.len(), count, "{folder}");
        let first = files.first().unwrap();
        assert_eq!(
            png_header(&resized.join(folder).join(first)),
            (32, 32, 8, 2)
        );
    }
    assert!(
        resized.join("trainB/n02391049_226.png").is_file(),
        "stems are kept"
    );
}

#[test]
fn mnist_dataset_then_resize() {
    let Some(mnist) = shared("datasets/mnist") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let params = json!({"name": "mnist", "archive": mnist, "digest": MNIST_DIGEST});
    let dataset = run_stage("dataset", params, vec![], work.path()).expect("dataset runs");

    assert_eq!(files_in(&dataset.join("trainA")).len(), 1000);
    assert_eq!(files_in(&dataset.join("testA")).len(), 1000);
    assert!(files_in(&dataset.join("trainB")).is_empty());
    assert_eq!(files_in(&dataset.join("testA"))[0], "01000.png");
    assert_eq!(
        png_header(&dataset.join("trainA/00000.png")),
        (28, 28, 8, 0)
    );

    let inputs = vec![("dataset".to_owned(), Input::Path(dataset))];
    let resized = run_stage("resize", json!({"size": 32}), inputs, work.path()).expect("resize");
    assert_eq!(files_in(&resized.join("trainA")).len(), 1000);
    assert_eq!(files_in(&resized.join("testA")).len(), 1000);
    assert_eq!(png_header(&resized.join("testA/01999.png")), (32, 32, 8, 2));
}

#[test]
fn wrong_digest_fails_the_stage() {
    let Some(mnist) = shared("datasets/mnist") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let params = json!({"name": "mnist", "archive": mnist, "digest": wrong, "limit_per_split": 2});
    let error = run_stage("dataset", params, vec![], work.path()).expect_err("mismatch");
    let message = format!("{error:#}");
    assert!(message.contains(&wrong), "{message}");
    assert!(message.contains(MNIST_DIGEST), "{message}");
}

#[test]
fn stage_params_reject_bad_values() {
    let registry = stages::registry();
    let dataset = registry.get("dataset").unwrap();
    let error = dataset
        .check_params(&json!({"name": "horse2zebra", "archiv": "x.zip"}))
        .expect_err("unknown key");
    assert!(error.contains("archiv"), "{error}");

    let canonical = dataset
        .check_params(&json!({"name": "horse2zebra"}))
        .unwrap();
    assert_eq!(canonical["skip_unreadable"], json!(false));

    let resize = registry.get("resize").unwrap();
    assert!(resize.check_params(&json!({"size": 0})).is_err());
    assert!(resize.check_params(&json!({})).is_err());
    assert!(resize.check_params(&json!({"size": 64})).is_ok());
}

#[test]
fn resize_output_independent_of_threads() {
    let Some(mnist) = shared("datasets/mnist") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let params = json!({"name": "mnist", "archive": mnist, "limit_per_split": 15});
    let dataset = run_stage("dataset", params, vec![], work.path()).expect("dataset runs");

    let mut outputs = Vec::new();
    for threads in [1, 3] {
        let folder = work.path().join(format!("threads{threads}"));
        let inputs = vec![("dataset".to_owned(), Input::Path(dataset.clone()))];
        let resized = run_stage_on_threads("resize", json!({"size": 20}), inputs, &folder, threads)
            .expect("resize runs");
        let files: Vec<(String, Vec<u8>)> = ["trainA", "testA"]
            .iter()
            .flat_map(|name| {
                let folder = resized.join(name);
                files_in(&folder)
                    .into_iter()
                    .map(move |file| (file.clone(), std::fs::read(folder.join(file)).unwrap()))
            })
            .collect();
        assert_eq!(files.len(), 30);
        outputs.push(files);
    }
    assert!(
        outputs[0] == outputs[1],
        "1 and 3 threads give the same files"
    );
}
