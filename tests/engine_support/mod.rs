//! A temporary project with a pipeline file and a cache, driven through the built binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A project directory holding `pipeline.yaml` and `cache/`.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(spec: &str) -> Self {
        let project = Self {
            dir: tempfile::tempdir().expect("create temporary project"),
        };
        project.write_spec(spec);
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    pub fn write_spec(&self, spec: &str) {
        std::fs::write(self.path().join("pipeline.yaml"), spec).expect("write pipeline.yaml");
    }

    /// Builds a `pipeline` command that runs in the project directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipeline"));
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("RUST_LOG");
        command
    }

    pub fn pipeline(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("start pipeline")
    }

    /// Runs `pipeline run ARGS`, asserts it succeeded and returns (stages run, reused).
    pub fn run(&self, args: &[&str]) -> (usize, usize) {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        let output = self.pipeline(&full);
        assert!(
            output.status.success(),
            "pipeline run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        run_counts(&output)
    }

    /// `pipeline status --json` as (stage, reason) pairs; reason is None for fresh stages.
    pub fn status(&self) -> Vec<(String, Option<String>)> {
        self.status_with(&[])
    }

    /// `pipeline status --json ARGS` as (stage, reason) pairs.
    pub fn status_with(&self, args: &[&str]) -> Vec<(String, Option<String>)> {
        let mut full = vec!["status", "--json"];
        full.extend_from_slice(args);
        let output = self.pipeline(&full);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let rows: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("status --json prints JSON");
        rows.as_array()
            .expect("status --json prints an array")
            .iter()
            .map(|row| {
                (
                    row["stage"].as_str().unwrap_or_default().to_string(),
                    row["reason"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    /// Returns the status reason of one stage.
    pub fn reason(&self, stage: &str) -> Option<String> {
        self.status()
            .into_iter()
            .find(|(name, _)| name == stage)
            .unwrap_or_else(|| panic!("stage {stage} missing from status"))
            .1
    }
}

/// Parses the last stdout line `N stages run, M reused from cache`.
pub fn run_counts(output: &Output) -> (usize, usize) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    let parsed = last
        .strip_suffix(" reused from cache")
        .and_then(|rest| rest.split_once(" stages run, "))
        .and_then(|(ran, reused)| Some((ran.parse().ok()?, reused.parse().ok()?)));
    parsed.unwrap_or_else(|| panic!("unexpected last line of pipeline run: {last:?}"))
}

/// Lists every file below `dir`, recursively; an unreadable or missing directory has none.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Polls `condition` every 20 ms and fails the test naming `what` after 20 seconds.
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
