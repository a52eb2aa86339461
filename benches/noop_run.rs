//! No-op `pipeline run` of a 50-stage, fully cached pipeline.
//!
//! Builds a pipeline of 50 `command` stages (ten chains of five, each stage writing three
//! files and reading its predecessor) and runs it once to fill the cache. It then times
//! repeated runs that find everything cached. It reports the median wall time and the store
//! accesses the engine logs: records read, objects stat'ed, objects rehashed.
//!
//! Run with `cargo bench --bench noop_run`.

use std::process::Command;
use std::time::{Duration, Instant};

const CHAINS: usize = 10;
const CHAIN_LENGTH: usize = 5;
const TIMED_RUNS: usize = 20;

fn main() {
    let project = tempfile::tempdir().expect("create temporary project");
    let mut spec = String::from("stages:\n");
    for chain in 0..CHAINS {
        for step in 0..CHAIN_LENGTH {
            spec.push_str(&format!("  s{chain}-{step}:\n    kind: command\n"));
            let mut run = format!("for i in 1 2 3; do echo {chain}-{step}-$i > $OUT/f$i.txt; done");
            if step > 0 {
                spec.push_str(&format!(
                    "    inputs: {{previous: s{chain}-{}}}\n",
                    step - 1
                ));
                run.push_str("; cat $IN_PREVIOUS/f1.txt >> $OUT/f1.txt");
            }
            spec.push_str(&format!("    params: {{run: \"{run}\"}}\n"));
        }
    }
    std::fs::write(project.path().join("pipeline.yaml"), spec).expect("write pipeline.yaml");

    let pipeline = |log: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .arg("run")
            .current_dir(project.path())
            .env("RUST_LOG", log)
            .output()
            .expect("start pipeline");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };

    let first = pipeline("warn");
    println!("fill: {}", String::from_utf8_lossy(&first.stdout).trim());

    let mut times: Vec<Duration> = (0..TIMED_RUNS)
        .map(|_| {
            let start = Instant::now();
            let output = pipeline("warn");
            let elapsed = start.elapsed();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                stdout
                    .trim_end()
                    .ends_with("0 stages run, 50 reused from cache"),
                "{stdout}"
            );
            elapsed
        })
        .collect();
    times.sort();

    let traced = pipeline("pipeline=debug");
    let stderr = String::from_utf8_lossy(&traced.stderr);
    let access = stderr
        .lines()
        .find(|line| line.contains("store access"))
        .unwrap_or("store access line not logged");

    println!(
        "no-op run of {} cached stages: median {:.1} ms, min {:.1} ms, max {:.1} ms over {TIMED_RUNS} runs",
        CHAINS * CHAIN_LENGTH,
        times[TIMED_RUNS / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[TIMED_RUNS - 1].as_secs_f64() * 1e3,
    );
    println!("{}", access.trim());
}
