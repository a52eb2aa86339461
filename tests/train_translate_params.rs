//! Params of the `train` and `translate` kinds through the binary: values no run can use are
//! rejected at validation (exit 2) with the param's name, and a `dataset` input without
//! training images fails train with a message naming the cause.

mod engine_support;

use engine_support::Project;

/// Upstream stages standing in for a dataset, a checkpoint and an image folder.
const UPSTREAM: &str = "\
stages:
  data:
    kind: command
    params: {run: \"mkdir -p $OUT/trainA $OUT/trainB\"}
";

/// (kind, the offending params as YAML flow mapping, the param the message must name).
const INVALID: &[(&str, &str, &str)] = &[
    ("train", "{lr: -1}", "lr"),
    ("train", "{lr: 0}", "lr"),
    ("train", "{betas: [2, 3]}", "betas"),
    ("train", "{betas: [0.5, 1]}", "betas"),
    ("train", "{lambda_cyc: -1}", "lambda_cyc"),
    ("train", "{lambda_idt: -0.5}", "lambda_idt"),
    ("train", "{lambda_mgan: 5}", "lambda_mgan"),
    ("train", "{lambda_mcyc: -0.1}", "lambda_mcyc"),
    (
        "train",
        "{epochs: 3, decay_from_epoch: 4}",
        "decay_from_epoch",
    ),
    ("train", "{epochs: 0}", "epochs"),
    ("train", "{size: 16, discriminator: full}", "size"),
    ("train", "{masks: {scheme: bank}}", "masks"),
    ("translate", "{direction: a2b, scales: [2]}", "scales"),
    ("translate", "{direction: a2b, scales: [0]}", "scales"),
    ("translate", "{direction: a2b, scales: []}", "scales"),
    ("translate", "{direction: a2b, size: 0}", "size"),
    ("translate", "{direction: a2b, size: 7}", "size"),
    ("translate", "{direction: a2b, size: 4}", "size"),
    ("translate", "{direction: a2b, batch: 0}", "batch"),
];

fn spec_with(kind: &str, params: &str) -> String {
    let inputs = match kind {
        "train" => "{dataset: data}",
        _ => "{checkpoint: data, images: data}",
    };
    format!(
        "{UPSTREAM}  under-test:\n    kind: {kind}\n    inputs: {inputs}\n    params: {params}\n"
    )
}

#[test]
fn invalid_params_exit_2_naming_param() {
    for (kind, params, param) in INVALID {
        let project = Project::new(&spec_with(kind, params));
        let output = project.pipeline(&["status"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{kind} {params}: {stderr}");
        assert!(
            stderr.contains(&format!("`{param}`")),
            "{kind} {params}: expected `{param}` in: {stderr}"
        );
        assert!(
            !stderr.contains("`direction`"),
            "{kind} {params}: names direction: {stderr}"
        );
    }
}

#[test]
fn valid_edge_params_pass_validation() {
    for (kind, params) in [
        (
            "train",
            "{betas: [0, 0.999], lambda_mgan: 1, lambda_mcyc: 0}",
        ),
        ("train", "{epochs: 3, decay_from_epoch: 3, lambda_cyc: 0}"),
        ("translate", "{direction: b2a, scales: [1, 0.01], size: 8}"),
    ] {
        let project = Project::new(&spec_with(kind, params));
        let output = project.pipeline(&["status"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{kind} {params}: {stderr}");
    }
}

#[test]
fn train_without_images_names_dataset_param() {
    let project = Project::new(&spec_with("train", "{size: 32}"));
    let output = project.pipeline(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("trainA/"), "{stderr}");
    assert!(stderr.contains("`limit_per_split`"), "{stderr}");
    assert!(
        !stderr.contains("failed: stage under-test failed"),
        "doubled prefix: {stderr}"
    );
    let cache = project.cache().to_string_lossy().into_owned();
    let first_line = stderr
        .lines()
        .find(|line| line.contains("trainA/"))
        .unwrap();
    assert!(
        !first_line.contains(&cache),
        "names a path inside the cache: {stderr}"
    );
}
