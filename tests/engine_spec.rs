//! Spec validation, matrix expansion, `vars` and targets through the binary.

mod engine_support;

use engine_support::Project;

/// (case, spec, expected `pipeline.yaml:LINE:` prefix, stage the message must name).
const MALFORMED: &[(&str, &str, &str, &str)] = &[
    (
        "yaml syntax",
        "stages:\n  a:\n    kind: command\n    params: {run: \"x\"\n  b:\n    kind: command\n",
        "pipeline.yaml:5:3:",
        "stage `b`",
    ),
    (
        "unknown kind",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\n  b:\n    kind: nosuchkind\n",
        "pipeline.yaml:6:5:",
        "stage `b`",
    ),
    (
        "unknown param",
        "stages:\n  a:\n    kind: command\n    params:\n      run: x\n      colour: red\n",
        "pipeline.yaml:6:7:",
        "stage `a`",
    ),
    (
        "mistyped param",
        "stages:\n  a:\n    kind: command\n    params:\n      run: x\n      timeout_s: soon\n",
        "pipeline.yaml:6:7:",
        "stage `a`",
    ),
    (
        "missing input stage",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\n    inputs:\n      data: ghost\n",
        "pipeline.yaml:6:7:",
        "stage `a`",
    ),
    (
        "duplicate expanded name",
        "stages:\n  b.1:\n    kind: command\n    params: {run: x}\n  b:\n    kind: command\n    matrix: {n: [1, 2]}\n    params: {run: x}\n",
        "pipeline.yaml:5:3:",
        "stage `b`",
    ),
    (
        "cycle",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\n    inputs: {x: b}\n  b:\n    kind: command\n    params: {run: x}\n    inputs: {x: a}\n",
        "pipeline.yaml:2:3:",
        "dependency cycle: a -> b -> a",
    ),
    (
        "undefined variable",
        "vars:\n  size: 4\nstages:\n  a:\n    kind: command\n    params:\n      run: \"echo ${vars.sise}\"\n",
        "pipeline.yaml:6:",
        "stage `a`",
    ),
    (
        "unknown stage key",
        "stages:\n  a:\n    kind: command\n    prams: {run: x}\n",
        "pipeline.yaml:4:5:",
        "stage `a`",
    ),
    (
        "missing kind",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\n  lonely:\n    params: {run: x}\n",
        "pipeline.yaml:5:3:",
        "stage `lonely`",
    ),
    (
        "target names missing stage",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\ntargets:\n  all: [a, ghost]\n",
        "pipeline.yaml:6:",
        "stage `ghost`",
    ),
    (
        "wildcard matches nothing",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\n    inputs: {all: \"fid.*\"}\n",
        "pipeline.yaml:5:",
        "stage `a`",
    ),
    (
        "reference to matrix base name",
        "stages:\n  m:\n    kind: command\n    matrix: {n: [1, 2]}\n    params: {run: x}\n  a:\n    kind: command\n    params: {run: x}\n    inputs: {data: m}\n",
        "pipeline.yaml:9:",
        "stage `a`",
    ),
    (
        "matrix value with a slash",
        "stages:\n  m:\n    kind: command\n    matrix: {n: [a/b]}\n    params: {run: x}\n",
        "pipeline.yaml:4:",
        "matrix value `a/b`",
    ),
    (
        "duplicate stage key",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\n  a:\n    kind: command\n    params: {run: y}\n",
        "pipeline.yaml:5:3:",
        "first written at line 2",
    ),
    (
        "publish to the pipeline folder",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\n    publish: .\n",
        "pipeline.yaml:5:",
        "stage `a`",
    ),
    (
        "two stages publish to one folder",
        "stages:\n  a:\n    kind: command\n    params: {run: x}\n    publish: out\n  b:\n    kind: command\n    params: {run: y}\n    publish: ./out\n",
        "pipeline.yaml:9:",
        "stage `a`",
    ),
    (
        "matrix value not a list",
        "stages:\n  m:\n    kind: command\n    matrix: {n: 3}\n    params: {run: x}\n",
        "pipeline.yaml:4:",
        "stage `m`",
    ),
];

#[test]
fn malformed_specs_exit_2_with_position() {
    for (case, spec, position, stage) in MALFORMED {
        let project = Project::new(spec);
        let output = project.pipeline(&["run"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{case}: {stderr}");
        assert!(
            stderr.contains(position),
            "{case}: expected {position} in: {stderr}"
        );
        assert!(
            stderr.contains(stage),
            "{case}: expected stage {stage} in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
        assert!(
            !project.cache().join("runs").exists()
                || std::fs::read_dir(project.cache().join("runs"))
                    .unwrap()
                    .next()
                    .is_none(),
            "{case}: nothing may run"
        );
    }
}

#[test]
fn every_error_is_reported_at_once() {
    let spec = "stages:\n  a:\n    kind: nosuchkind\n  b:\n    kind: command\n    params: {run: x, colour: red}\n";
    let output = Project::new(spec).pipeline(&["status"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("pipeline.yaml:3:"), "{stderr}");
    assert!(stderr.contains("pipeline.yaml:6:"), "{stderr}");
}

#[test]
fn invalid_command_line_exits_2() {
    let project = Project::new("stages:\n  a:\n    kind: command\n    params: {run: x}\n");
    for args in [
        vec!["run", "--jobs", "0"],
        vec!["run", "no-such-target"],
        vec!["run", "--set", "a.run"],
        vec!["run", "--set", "ghost.run=x"],
        vec!["run", "--device", "tpu"],
        vec!["frobnicate"],
    ] {
        let output = project.pipeline(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let missing = project.pipeline(&["run", "-f", "missing.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    if !cfg!(feature = "cuda") {
        let cuda = project.pipeline(&["run", "--device", "cuda"]);
        let message = String::from_utf8_lossy(&cuda.stderr);
        assert_eq!(cuda.status.code(), Some(2), "{message}");
        assert!(message.contains("--features cuda"), "{message}");
    }
}

const MATRIX: &str = r#"
vars:
  size: 64
  label: masks
stages:
  dataset:
    kind: command
    params: {run: "echo data > $OUT/d.txt"}
  masks:
    kind: command
    matrix: {scheme: [centered, rects], seed: [1, 2]}
    params:
      run: "echo ${vars.label} ${matrix.scheme} ${matrix.seed} > $OUT/m.txt"
      timeout_s: ${vars.size}
  train:
    kind: command
    matrix: {scheme: [centered, rects]}
    inputs:
      data: dataset
      masks: masks.${matrix.scheme}.1
    params: {run: "cat $IN_MASKS/m.txt > $OUT/t.txt"}
  report:
    kind: command
    inputs: {train: "train.*"}
    params: {run: "for d in $IN_TRAIN; do cat $d/t.txt; done > $OUT/report.txt"}
  unrelated:
    kind: command
    params: {run: "echo u > $OUT/u.txt"}
targets:
  fid-matrix: [report]
"#;

#[test]
fn matrix_expands_to_named_stages() {
    let project = Project::new(MATRIX);
    let output = project.pipeline(&["dag"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    for name in [
        "masks.centered.1",
        "masks.centered.2",
        "masks.rects.1",
        "masks.rects.2",
        "train.centered",
        "train.rects",
    ] {
        assert!(
            text.lines()
                .any(|line| line.starts_with(&format!("{name} "))),
            "{name} missing: {text}"
        );
    }
    assert!(
        text.contains("train.centered (command) <- data=dataset masks=masks.centered.1"),
        "{text}"
    );
    assert!(
        text.contains("report (command) <- train=train.centered,train.rects"),
        "{text}"
    );
}

#[test]
fn target_runs_only_its_ancestors() {
    let project = Project::new(MATRIX);
    // report, train x2, masks.*.1 x2, dataset.
    assert_eq!(project.run(&["fid-matrix"]), (6, 0));
    assert_eq!(project.reason("unrelated").as_deref(), Some("never run"));
    assert_eq!(
        project.reason("masks.centered.2").as_deref(),
        Some("never run")
    );

    let report = std::fs::read_dir(project.cache().join("runs"))
        .unwrap()
        .count();
    assert!(report > 0);
    assert_eq!(project.run(&["fid-matrix"]), (0, 6));
    assert_eq!(project.run(&["train.rects"]), (0, 3));
}

#[test]
fn vars_substitute_with_their_type() {
    let project = Project::new(MATRIX);
    project.run(&["masks.rects.2"]);
    let names = project.cache().join("names").join("masks.rects.2.json");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(names).unwrap()).unwrap();
    assert_eq!(
        record["parts"]["params"]["timeout_s"],
        serde_json::json!(64)
    );
    assert_eq!(
        record["parts"]["params"]["run"],
        serde_json::json!("echo masks rects 2 > $OUT/m.txt")
    );
}

#[test]
fn dag_formats_render_edges() {
    let project = Project::new(MATRIX);
    let dot = project.pipeline(&["dag", "--format", "dot"]);
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.contains("\"train.rects\" -> \"report\""), "{dot}");
    let mermaid = project.pipeline(&["dag", "--format", "mermaid"]);
    assert!(String::from_utf8_lossy(&mermaid.stdout).starts_with("graph TD"));
}

#[test]
fn invalid_set_value_names_the_argument() {
    let project = Project::new("stages:\n  a:\n    kind: command\n    params: {run: x}\n");
    let output = project.pipeline(&["status", "--set", "a.timeout_s=soon"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pipeline.yaml: --set a.timeout_s=soon: stage `a`"),
        "{stderr}"
    );
    assert!(!stderr.contains("pipeline.yaml:4:"), "{stderr}");
}
