//! Files outside the store that a stage reads (a dataset folder) are part of its key, and are
//! resolved relative to the pipeline file's folder.

mod engine_support;

use std::path::Path;

use engine_support::Project;

fn write_tiny_dataset(dir: &Path) {
    for folder in ["trainA", "trainB", "testA", "testB"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        for index in 0..2u8 {
            let image = image::RgbImage::from_pixel(8, 8, image::Rgb([index * 100, 40, 20]));
            image
                .save(dir.join(folder).join(format!("{index}.png")))
                .unwrap();
        }
    }
}

const SPEC: &str =
    "stages:\n  tiny:\n    kind: dataset\n    params: {name: tiny, archive: ../sets/tiny}\n";

/// A project whose pipeline file lives in `sub/`, reading `sets/tiny` beside it.
fn project() -> Project {
    let project = Project::new("");
    write_tiny_dataset(&project.path().join("sets/tiny"));
    std::fs::create_dir_all(project.path().join("sub")).unwrap();
    std::fs::write(project.path().join("sub/p.yaml"), SPEC).unwrap();
    project
}

fn reason(project: &Project, cwd: &Path) -> Option<String> {
    let pipeline_file = project.path().join("sub/p.yaml");
    let cache = project.cache();
    let output = project
        .command(&[
            "status",
            "--json",
            "-f",
            pipeline_file.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    rows[0]["reason"].as_str().map(str::to_string)
}

fn run(project: &Project) {
    let output = project.pipeline(&["run", "-f", "sub/p.yaml"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn deleted_dataset_image_makes_stage_stale() {
    let project = project();
    run(&project);
    assert_eq!(reason(&project, project.path()), None);

    std::fs::remove_file(project.path().join("sets/tiny/trainA/1.png")).unwrap();
    assert_eq!(
        reason(&project, project.path()).as_deref(),
        Some("file changed: ../sets/tiny")
    );
}

#[test]
fn archive_resolves_against_pipeline_folder() {
    let project = project();
    run(&project);
    let elsewhere = tempfile::tempdir().unwrap();
    assert_eq!(reason(&project, elsewhere.path()), None);
    assert_eq!(reason(&project, &project.path().join("sub")), None);
}

#[test]
fn moved_away_archive_makes_stage_stale() {
    let project = project();
    run(&project);
    let sets = project.path().join("sets");
    std::fs::rename(sets.join("tiny"), sets.join("kept")).unwrap();
    assert_eq!(
        reason(&project, project.path()).as_deref(),
        Some("file changed: ../sets/tiny")
    );
    std::fs::rename(sets.join("kept"), sets.join("tiny")).unwrap();
    assert_eq!(reason(&project, project.path()), None);
}
