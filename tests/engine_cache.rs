//! Caching and rerun semantics of `pipeline run`, on `command` stages.

mod engine_support;

use engine_support::Project;

const CHAIN: &str = r#"
stages:
  source:
    kind: command
    params: {run: "printf 'alpha' > $OUT/a.txt", timeout_s: 100}
  middle:
    kind: command
    inputs: {source: source}
    params:
      run: "cat $IN_SOURCE/a.txt > $OUT/b.txt; printf ' middle' >> $OUT/b.txt"
  last:
    kind: command
    inputs: {middle: middle}
    params:
      run: "cat $IN_MIDDLE/b.txt > $OUT/c.txt"
  other:
    kind: command
    params: {run: "printf 'other' > $OUT/o.txt"}
"#;

#[test]
fn second_run_runs_nothing() {
    let project = Project::new(CHAIN);
    assert_eq!(project.run(&[]), (4, 0));
    assert_eq!(project.run(&[]), (0, 4));
    assert!(project.status().iter().all(|(_, reason)| reason.is_none()));
}

#[test]
fn changed_param_reruns_stage_and_dependants() {
    let project = Project::new(CHAIN);
    project.run(&[]);

    project.write_spec(&CHAIN.replace("printf ' middle'", "printf ' changed'"));
    assert_eq!(
        project.reason("middle").as_deref(),
        Some("param changed: run")
    );
    assert_eq!(
        project.reason("last").as_deref(),
        Some("input changed: middle")
    );
    assert_eq!(project.reason("source"), None);
    assert_eq!(project.reason("other"), None);

    assert_eq!(project.run(&[]), (2, 2));
}

#[test]
fn key_order_and_float_spelling_rerun_nothing() {
    let project = Project::new(CHAIN);
    project.run(&[]);

    let reordered = r#"
stages:
  other:
    params: {run: "printf 'other' > $OUT/o.txt"}
    kind: command
  source:
    params: {timeout_s: 100.0, run: "printf 'alpha' > $OUT/a.txt"}
    kind: command
  middle:
    inputs: {source: source}
    kind: command
    params:
      run: "cat $IN_SOURCE/a.txt > $OUT/b.txt; printf ' middle' >> $OUT/b.txt"
  last:
    params:
      run: "cat $IN_MIDDLE/b.txt > $OUT/c.txt"
    kind: command
    inputs: {middle: middle}
"#;
    project.write_spec(reordered);
    assert_eq!(project.run(&[]), (0, 4));

    project.write_spec(&reordered.replace("timeout_s: 100.0", "timeout_s: 100.5"));
    assert_eq!(
        project.reason("source").as_deref(),
        Some("param changed: timeout_s")
    );
}

#[test]
fn identical_output_keeps_dependants_fresh() {
    let project = Project::new(CHAIN);
    project.run(&[]);

    // A different command that writes the same bytes: only `source` reruns.
    project.write_spec(&CHAIN.replace("printf 'alpha' >", "printf '%s' alpha >"));
    assert_eq!(project.run(&[]), (1, 3));
}

#[test]
fn set_override_changes_key_for_one_run() {
    let project = Project::new(CHAIN);
    project.run(&[]);

    let (ran, reused) = project.run(&["--set", "other.run=printf 'x' > $OUT/o.txt"]);
    assert_eq!((ran, reused), (1, 3));
    // The override lasts one run; the file's own params are still cached.
    assert_eq!(project.reason("other"), None);
    assert_eq!(project.run(&[]), (0, 4));
}

#[test]
fn status_set_shows_what_run_would_rerun() {
    let project = Project::new(CHAIN);
    project.run(&[]);

    let set = ["--set", "middle.run=printf 'changed' > $OUT/b.txt"];
    let reasons = project.status_with(&set);
    let reason = |stage: &str| {
        reasons
            .iter()
            .find(|(name, _)| name == stage)
            .unwrap_or_else(|| panic!("stage {stage} missing from status"))
            .1
            .clone()
    };
    assert_eq!(reason("source"), None);
    assert_eq!(reason("middle").as_deref(), Some("param changed: run"));
    assert_eq!(reason("last").as_deref(), Some("input changed: middle"));
    assert_eq!(reason("other"), None);

    // Status only reads the cache: without the override everything is still fresh.
    assert!(project.status().iter().all(|(_, reason)| reason.is_none()));
    assert_eq!(project.run(&set), (2, 2));
    assert!(project
        .status_with(&set)
        .iter()
        .all(|(_, reason)| reason.is_none()));
}

#[test]
fn status_rejects_invalid_set() {
    let project = Project::new(CHAIN);
    for set in ["middle.run", "nosuchstage.run=1"] {
        let output = project.pipeline(&["status", "--set", set]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "--set {set}: {stderr}");
        assert!(stderr.contains("--set"), "--set {set}: {stderr}");
    }
}

#[test]
fn failing_stage_stops_dependants_only_with_keep_going() {
    let spec = r#"
stages:
  broken:
    kind: command
    params: {run: "echo boom >&2; exit 3"}
  after:
    kind: command
    inputs: {broken: broken}
    params: {run: "true"}
  independent:
    kind: command
    params: {run: "sleep 0.3; echo ok > $OUT/ok"}
"#;
    let project = Project::new(spec);
    let output = project.pipeline(&["run", "--keep-going", "--jobs", "1"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("boom"),
        "stderr lacks the command's error: {stderr}"
    );
    assert_eq!(engine_support::run_counts(&output), (1, 0));
    assert_eq!(project.reason("independent"), None);
    assert_eq!(project.reason("after").as_deref(), Some("never run"));
}

#[test]
fn publish_copies_output_tree() {
    let spec = r#"
stages:
  make:
    kind: command
    params: {run: "mkdir -p $OUT/sub && printf 'data' > $OUT/sub/f.txt"}
    publish: out/published
"#;
    let project = Project::new(spec);
    project.run(&[]);
    let published = project.path().join("out/published/sub/f.txt");
    assert_eq!(std::fs::read_to_string(&published).unwrap(), "data");

    // Editing the published copy must not reach the store.
    std::fs::write(&published, "edited").unwrap();
    assert_eq!(project.run(&[]), (0, 1));
    assert_eq!(std::fs::read_to_string(&published).unwrap(), "data");
}
