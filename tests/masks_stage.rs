//! The `mask-bank` stage kind: params checking and the attention-map input.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use dag::{Device, Input, Progress, StageContext, StageContextParts, StageKind};
use stages::mask_bank::{Mask, MaskBank};

fn context(dir: &Path, params: serde_json::Value, inputs: Vec<(String, Input)>) -> StageContext {
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    StageContext::new(StageContextParts {
        stage: "masks".into(),
        key: "test".into(),
        params: MaskBank.check_params(&params).unwrap(),
        inputs,
        out_dir,
        scratch_dir: dir.join("scratch"),
        log_path: dir.join("log.txt"),
        device: Device::Cpu,
        threads: 1,
        progress: Progress::hidden(),
        cancelled: Arc::new(AtomicBool::new(false)),
    })
}

#[test]
fn check_params_fills_defaults() {
    let params = serde_json::json!({"scheme": "multi-rectangles", "size": 64});
    let canonical = MaskBank.check_params(&params).unwrap();
    assert_eq!(canonical["count"], 100);
    assert_eq!(canonical["seed"], 0);
}

#[test]
fn check_params_rejects_maps_path() {
    let params = serde_json::json!({"scheme": "binary-attention", "size": 64, "maps": "dir"});
    let error = MaskBank.check_params(&params).unwrap_err();
    assert!(error.contains("input `maps`"), "{error}");
}

#[test]
fn check_params_rejects_bad_scale() {
    let params = serde_json::json!({"scheme": "centered-square", "size": 64, "scales": [1.5]});
    let error = MaskBank.check_params(&params).unwrap_err();
    assert!(error.contains("scales"), "{error}");
}

#[test]
fn attention_maps_come_from_input() {
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("maps");
    std::fs::create_dir(&maps).unwrap();
    // A mask image is a valid attention map: 255 inside, 0 outside.
    let mut map = Mask::empty(32);
    map.fill_rect(0..16, 0..32);
    std::fs::write(maps.join("top_half.png"), map.to_png().unwrap()).unwrap();

    let params = serde_json::json!({"scheme": "binary-attention", "size": 32, "threshold": 0.5});
    let inputs = vec![("maps".to_string(), Input::Path(maps))];
    let mut context = context(dir.path(), params, inputs);
    MaskBank.run(&mut context).unwrap();

    let written = Mask::read_png(&context.out_dir().join("mask_0000.png")).unwrap();
    assert_eq!(written, map);
    assert!(context.out_dir().join("masks.parquet").is_file());
}

#[test]
fn attention_without_input_fails() {
    let dir = tempfile::tempdir().unwrap();
    let params = serde_json::json!({"scheme": "binary-attention", "size": 32});
    let mut context = context(dir.path(), params, Vec::new());
    let error = MaskBank.run(&mut context).unwrap_err().to_string();
    assert!(error.contains("no input `maps`"), "{error}");
}

#[test]
fn check_params_rejects_empty_bank() {
    let cases = [
        (
            serde_json::json!({"scheme": "multi-rectangles", "size": 64, "count": 0}),
            "`count` must be at least 1",
        ),
        (
            serde_json::json!({"scheme": "centered-square", "size": 64, "scales": []}),
            "`scales` needs at least one value",
        ),
        (
            serde_json::json!({"scheme": "round", "size": 64, "radii": []}),
            "`radii` needs at least one value",
        ),
    ];
    for (params, expected) in cases {
        let error = MaskBank.check_params(&params).unwrap_err();
        assert!(error.contains(expected), "{params}: {error}");
    }
}
