//! A stage that writes through its inputs (hard links into the store) fails, and the damage
//! does not stay in the cache.

mod engine_support;

use engine_support::Project;

const EVIL: &str = r#"
stages:
  a:
    kind: command
    params: {run: "printf 'clean\n' > $OUT/a.txt"}
  b:
    kind: command
    inputs: {x: a}
    params: {run: "chmod u+w $IN_X/a.txt; echo EVIL >> $IN_X/a.txt; touch $OUT/b"}
  c:
    kind: command
    inputs: {x: a, after: b}
    params: {run: "cat $IN_X/a.txt > $OUT/c.txt"}
  d:
    kind: command
    inputs: {x: a}
    params: {run: "cat $IN_X/a.txt > $OUT/d.txt"}
"#;

#[test]
fn stage_writing_into_input_fails() {
    let project = Project::new(EVIL);
    let output = project.pipeline(&["run", "--jobs", "1", "--keep-going"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("stage b failed: the stage modified its input a/a.txt"),
        "{stderr}"
    );
    assert_ne!(project.reason("b"), None, "b must not be cached");
    assert_ne!(
        project.reason("a"),
        None,
        "a's damaged output must be dropped"
    );
}

#[test]
fn damaged_input_never_reaches_the_cache() {
    let project = Project::new(EVIL);
    let _ = project.pipeline(&["run", "--jobs", "1", "--keep-going"]);

    project.write_spec(&EVIL.replace("echo EVIL >> $IN_X/a.txt; ", ""));
    project.run(&[]);
    for (stage, file) in [("c", "c.txt"), ("d", "d.txt")] {
        let record = project.cache().join("runs");
        let output = project.pipeline(&["status", "--json", stage]);
        assert!(output.status.success());
        let text = std::fs::read_dir(&record)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "json")
            })
            .map(|path| std::fs::read_to_string(path).unwrap())
            .find(|text| text.contains(&format!("\"stage\": \"{stage}\"")))
            .unwrap_or_else(|| panic!("no record of {stage}"));
        let digest = blake3::hash(b"clean\n").to_hex().to_string();
        assert!(
            text.contains(&format!("\"path\": \"{file}\"")) && text.contains(&digest),
            "stage {stage} stored other bytes than its clean input: {text}"
        );
    }
}
