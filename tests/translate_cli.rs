//! `pipeline import-checkpoint` and `pipeline translate` run as a binary on a small checkpoint
//! saved by the authors' PyTorch code (8 base channels, 3 residual blocks): the imported
//! tensors, the output layout of a translation, and the errors for broken files and bad
//! command lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stages::translate::{translate_folder, Direction, TranslateParams, TranslatePaths};

fn shared(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} is absent", path.display());
        None
    }
}

fn pipeline(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .output()
        .expect("run the pipeline binary")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One tensor of a safetensors file: dtype, shape and raw little-endian bytes.
type RawTensor = (String, Vec<u64>, Vec<u8>);

/// Reads a safetensors file by its published layout (an 8-byte header length, a JSON header,
/// then the data), independently of the crates under test.
fn read_safetensors(path: &Path) -> BTreeMap<String, RawTensor> {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data = &bytes[8 + header_len..];
    let mut tensors = BTreeMap::new();
    for (name, entry) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        let dtype = entry["dtype"].as_str().unwrap().to_string();
        let shape = entry["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        let offsets = entry["data_offsets"].as_array().unwrap();
        let (start, end) = (
            offsets[0].as_u64().unwrap() as usize,
            offsets[1].as_u64().unwrap() as usize,
        );
        tensors.insert(name.clone(), (dtype, shape, data[start..end].to_vec()));
    }
    tensors
}

/// Runs `pipeline import-checkpoint DIR --out FILE --size 32` and asserts success.
fn import(dir: &Path, out: &Path) {
    let output = pipeline(&[
        "import-checkpoint".as_ref(),
        dir.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--size".as_ref(),
        "32".as_ref(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// Copies the first `count` fixture photographs (256x256 PNG) into `dir` as `photo_N.png`.
fn copy_photos(dir: &Path, count: usize) -> Option<Vec<String>> {
    let images = shared("fixtures/inception/images")?;
    std::fs::create_dir_all(dir).unwrap();
    let mut stems = Vec::new();
    for index in 0..count {
        let stem = format!("photo_{index}");
        std::fs::copy(
            images.join(format!("{index:02}.png")),
            dir.join(format!("{stem}.png")),
        )
        .unwrap();
        stems.push(stem);
    }
    Some(stems)
}

/// A temporary folder with the authors' checkpoint imported at 32 pixels and fixture
/// photographs in `input/`.
struct Imported {
    work: tempfile::TempDir,
    checkpoint: PathBuf,
    input: PathBuf,
    stems: Vec<String>,
}

/// Sets up [`Imported`] with `photos` photographs, or returns `None` when the fixtures are
/// absent.
fn imported(photos: usize) -> Option<Imported> {
    let model = shared("fixtures/model")?;
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("input");
    let stems = copy_photos(&input, photos)?;
    let checkpoint = work.path().join("checkpoint.safetensors");
    import(&model.join("authors_checkpoint"), &checkpoint);
    Some(Imported {
        work,
        checkpoint,
        input,
        stems,
    })
}

/// Reads the files of each subfolder of `dir`, skipping hidden entries such as the output marker.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for folder in std::fs::read_dir(dir).unwrap() {
        let folder = folder.unwrap().path();
        if folder
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with('.')
        {
            continue;
        }
        for file in std::fs::read_dir(&folder).unwrap() {
            let file = file.unwrap().path();
            let name = format!(
                "{}/{}",
                folder.file_name().unwrap().to_string_lossy(),
                file.file_name().unwrap().to_string_lossy()
            );
            files.insert(name, std::fs::read(&file).unwrap());
        }
    }
    files
}

/// Width, height, bit depth and colour type from a PNG's IHDR chunk.
fn png_header(bytes: &[u8]) -> (u32, u32, u8, u8) {
    assert_eq!(&bytes[1..4], b"PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (width, height, bytes[24], bytes[25])
}

#[test]
fn import_checkpoint_reproduces_fixture_tensors() {
    let Some(model) = shared("fixtures/model") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("imported.safetensors");
    import(&model.join("authors_checkpoint"), &out);
    let imported = read_safetensors(&out);

    let mut compared = 0;
    let generator = read_safetensors(&model.join("generator.safetensors"));
    let initial = read_safetensors(&model.join("train_init.safetensors"));
    let expected = generator.iter().chain(
        initial
            .iter()
            .filter(|(name, _)| name.starts_with("netG_B2A.")),
    );
    for (name, tensor) in expected {
        let actual = imported
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(actual, tensor, "{name} differs");
        compared += 1;
    }
    assert_eq!(compared, 56, "28 tensors per generator");
}

#[test]
fn import_checkpoint_of_truncated_file_names_it() {
    let Some(model) = shared("fixtures/model/authors_checkpoint") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let broken = work.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::copy(model.join("netG_B2A.pth"), broken.join("netG_B2A.pth")).unwrap();
    let bytes = std::fs::read(model.join("netG_A2B.pth")).unwrap();
    std::fs::write(broken.join("netG_A2B.pth"), &bytes[..bytes.len() / 2]).unwrap();

    let out = work.path().join("imported.safetensors");
    let output = pipeline(&[
        "import-checkpoint".as_ref(),
        broken.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("netG_A2B.pth"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    assert!(!out.exists(), "no checkpoint is written");
}

#[test]
fn translate_scale_writes_one_folder_per_scale() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        stems,
    }) = imported(3)
    else {
        return;
    };

    let out = work.path().join("out");
    let output = pipeline(&[
        "translate".as_ref(),
        "--checkpoint".as_ref(),
        checkpoint.as_os_str(),
        "--input".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--direction".as_ref(),
        "b2a".as_ref(),
        "--scale".as_ref(),
        "0.8".as_ref(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));

    let written = files_under(&out);
    let expected_names: Vec<String> = stems
        .iter()
        .map(|stem| format!("scale=0.80/{stem}.png"))
        .collect();
    assert_eq!(written.keys().cloned().collect::<Vec<_>>(), expected_names);
    for bytes in written.values() {
        // 32x32 (the size recorded at import), 8-bit RGB.
        assert_eq!(png_header(bytes), (32, 32, 8, 2));
    }

    // The same translation through the stage's code with explicit params: the flags mean
    // direction b2a and the single centered scale 0.8.
    let mut params = TranslateParams::new(Direction::BToA);
    params.scales = vec![0.8];
    let library_out = work.path().join("library");
    let paths = TranslatePaths {
        checkpoint: &checkpoint,
        images: &input,
        masks: None,
        out_dir: &library_out,
    };
    let device = stages::features::candle_device(dag::Device::Cpu).unwrap();
    translate_folder(&params, paths, &device, &mut |_| {}, &|| false).unwrap();
    assert_eq!(files_under(&library_out), written);
}

#[test]
fn translate_masks_writes_one_folder_per_mask() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        stems,
    }) = imported(2)
    else {
        return;
    };
    let masks = work.path().join("masks");
    let made = pipeline(&[
        "masks".as_ref(),
        "--scheme".as_ref(),
        "round".as_ref(),
        "--size".as_ref(),
        "32".as_ref(),
        "--radii".as_ref(),
        "0.5,0.9".as_ref(),
        "--out".as_ref(),
        masks.as_os_str(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));

    let out = work.path().join("out");
    let output = pipeline(&[
        "translate".as_ref(),
        "--checkpoint".as_ref(),
        checkpoint.as_os_str(),
        "--input".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--direction".as_ref(),
        "a2b".as_ref(),
        "--masks".as_ref(),
        masks.as_os_str(),
        "--size".as_ref(),
        "32".as_ref(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let written = files_under(&out);
    let mut expected_names = Vec::new();
    for mask in ["mask_0000", "mask_0001"] {
        for stem in &stems {
            expected_names.push(format!("{mask}/{stem}.png"));
        }
    }
    assert_eq!(written.keys().cloned().collect::<Vec<_>>(), expected_names);
    for bytes in written.values() {
        assert_eq!(png_header(bytes), (32, 32, 8, 2));
    }
    // Different masks give different translations of the same image.
    assert_ne!(
        written[&format!("mask_0000/{}.png", stems[0])],
        written[&format!("mask_0001/{}.png", stems[0])]
    );
}

/// Runs `pipeline translate` on `input` with `checkpoint`, direction a2b and scale 0.5.
fn translate(checkpoint: &Path, input: &Path, out: &Path) -> Output {
    pipeline(&[
        "translate".as_ref(),
        "--checkpoint".as_ref(),
        checkpoint.as_os_str(),
        "--input".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--direction".as_ref(),
        "a2b".as_ref(),
        "--scale".as_ref(),
        "0.5".as_ref(),
    ])
}

#[test]
fn translate_with_truncated_checkpoint_names_it() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        ..
    }) = imported(1)
    else {
        return;
    };
    let bytes = std::fs::read(&checkpoint).unwrap();
    let truncated = work.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let output = translate(&truncated, &input, &work.path().join("out"));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("truncated.safetensors"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn translate_with_broken_image_names_it() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        ..
    }) = imported(1)
    else {
        return;
    };
    std::fs::write(input.join("broken.png"), b"not an image\n").unwrap();

    let output = translate(&checkpoint, &input, &work.path().join("out"));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("broken.png"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn translate_bad_usage_exits_2() {
    let work = tempfile::tempdir().unwrap();
    let base = [
        "translate",
        "--checkpoint",
        "checkpoint.safetensors",
        "--input",
        "input",
        "--out",
        "out",
    ];
    let cases: [&[&str]; 4] = [
        &["--direction", "sideways"],
        &["--direction", "a2b", "--scale", "1.5"],
        &["--direction", "a2b", "--scale", "0.5", "--masks", "bank"],
        &["--scale", "0.5"],
    ];
    for extra in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(base)
            .args(extra)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{extra:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn pytorch_files_point_to_import_checkpoint() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("netG_A2B.pth"), b"PK").unwrap();
    let translate = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["translate", "--checkpoint", "netG_A2B.pth", "--input", "."])
        .args(["--out", "out", "--direction", "a2b"])
        .current_dir(work.path())
        .output()
        .unwrap();
    let message = stderr(&translate);
    assert_eq!(translate.status.code(), Some(2), "{message}");
    assert!(message.contains("pipeline import-checkpoint"), "{message}");

    let import = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args([
            "import-checkpoint",
            "netG_A2B.pth",
            "--out",
            "model.safetensors",
        ])
        .current_dir(work.path())
        .output()
        .unwrap();
    let message = stderr(&import);
    assert_eq!(import.status.code(), Some(2), "{message}");
    assert!(message.contains("is a file"), "{message}");
    assert!(!work.path().join("model.safetensors").exists());
}

#[test]
fn translate_invalid_flags_name_flag() {
    let work = tempfile::tempdir().unwrap();
    let base = [
        "translate",
        "--checkpoint",
        "checkpoint.safetensors",
        "--input",
        "input",
        "--out",
        "out",
        "--direction",
        "a2b",
    ];
    let cases: [(&[&str], &str); 8] = [
        (&["--scale", "2"], "--scale"),
        (&["--scale", "0"], "--scale"),
        (&["--scale", "0.5,0.501"], "--scale"),
        (&["--size", "0"], "--size"),
        (&["--size", "7"], "--size"),
        (&["--size", "4"], "--size"),
        (&["--size", "4000000000"], "--size"),
        (&["--batch", "0"], "--batch"),
    ];
    for (extra, flag) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(base)
            .args(extra)
            .current_dir(work.path())
            .output()
            .unwrap();
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {message}");
        assert!(message.contains(flag), "{extra:?}: {message}");
        assert!(!message.contains("panicked"), "{extra:?}: {message}");
        assert!(!message.contains("backtrace"), "{extra:?}: {message}");
    }
}

/// Runs `pipeline translate` with an explicit `--size`.
fn translate_at_size(checkpoint: &Path, input: &Path, out: &Path, size: &str) -> Output {
    pipeline(&[
        "translate".as_ref(),
        "--checkpoint".as_ref(),
        checkpoint.as_os_str(),
        "--input".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--direction".as_ref(),
        "a2b".as_ref(),
        "--scale".as_ref(),
        "0.5".as_ref(),
        "--size".as_ref(),
        size.as_ref(),
    ])
}

#[test]
fn translate_rejects_foreign_out_folder() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        stems,
    }) = imported(1)
    else {
        return;
    };
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), b"keep me").unwrap();

    let output = translate(&checkpoint, &input, &out);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--out"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&out.display().to_string()),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"keep me");
    assert!(!out.join("scale=0.50").exists());

    // A folder the command wrote itself is replaced, not mixed with the new outputs.
    let own = work.path().join("nested").join("own");
    let first = translate_at_size(&checkpoint, &input, &own, "32");
    assert!(first.status.success(), "{}", stderr(&first));
    let second = translate_at_size(&checkpoint, &input, &own, "16");
    assert!(second.status.success(), "{}", stderr(&second));
    let written = files_under(&own);
    let names: Vec<String> = written.keys().cloned().collect();
    assert_eq!(names, vec![format!("scale=0.50/{}.png", stems[0])]);
    assert_eq!(png_header(&written[&names[0]]), (16, 16, 8, 2));
    let leftovers: Vec<String> = std::fs::read_dir(work.path().join("nested"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, vec!["own".to_string()]);
}

#[test]
fn failed_translate_leaves_no_output() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        ..
    }) = imported(1)
    else {
        return;
    };
    // Sorted after photo_0.png, so photo_0 is translated before the failure.
    std::fs::write(input.join("zz_broken.png"), b"not an image\n").unwrap();
    let out = work.path().join("out");
    let output = pipeline(&[
        "translate".as_ref(),
        "--checkpoint".as_ref(),
        checkpoint.as_os_str(),
        "--input".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--direction".as_ref(),
        "a2b".as_ref(),
        "--batch".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!out.exists(), "a failed translation left {}", out.display());
    let entries: Vec<String> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        entries.iter().all(|name| !name.contains("partial")),
        "{entries:?}"
    );
}

#[test]
fn import_checkpoint_invalid_size_exits_2() {
    let work = tempfile::tempdir().unwrap();
    for size in ["0", "7", "4"] {
        let output = pipeline(&[
            "import-checkpoint".as_ref(),
            work.path().join("authors").as_os_str(),
            "--out".as_ref(),
            work.path().join("c.safetensors").as_os_str(),
            "--size".as_ref(),
            size.as_ref(),
        ]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "--size {size}: {message}");
        assert!(message.contains("--size"), "--size {size}: {message}");
        assert!(!work.path().join("c.safetensors").exists());
    }
}

#[test]
fn import_checkpoint_creates_out_folder() {
    let Some(model) = shared("fixtures/model") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("new").join("deeper").join("c.safetensors");
    let output = pipeline(&[
        "import-checkpoint".as_ref(),
        model.join("authors_checkpoint").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert!(out.is_file());
    assert!(!message.contains("(Simple)"), "{message}");
    assert!(!message.contains("(Full)"), "{message}");
    let entries: Vec<String> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["c.safetensors".to_string()]);
}

#[test]
fn translate_rejects_recorded_size() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        ..
    }) = imported(1)
    else {
        return;
    };
    // Records size 7 in place of 32; the header keeps its length, so the file stays valid.
    let bytes = std::fs::read(&checkpoint).unwrap();
    let pattern = b"\"size\":\"32\"";
    let at = bytes
        .windows(pattern.len())
        .position(|window| window == pattern)
        .expect("size in the header");
    let mut edited = bytes.clone();
    edited[at..at + 11].copy_from_slice(b"\"size\":\"07\"");
    std::fs::write(&checkpoint, edited).unwrap();

    let output = translate(&checkpoint, &input, &work.path().join("out"));
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("checkpoint.safetensors"), "{message}");
    assert!(message.contains("--size"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(!work.path().join("out").exists());
}

/// Lists the hidden staging folders `pipeline translate` made in `dir` for the output `out`.
fn staging_folders(dir: &Path, out: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!(".{out}.partial-")))
        .collect()
}

#[test]
fn interrupted_translate_leaves_nothing() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        ..
    }) = imported(4)
    else {
        return;
    };
    let out = work.path().join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args([
            "translate",
            "--direction",
            "a2b",
            "--size",
            "1024",
            "--batch",
            "1",
        ])
        .args(["--scale", "0.2,0.4,0.6,0.8,1"])
        .arg("--checkpoint")
        .arg(&checkpoint)
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while staging_folders(work.path(), "out").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no staging folder appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: sends SIGTERM to the child started above.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };

    let output = child.wait_with_output().unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("interrupted"), "{message}");
    assert!(staging_folders(work.path(), "out").is_empty());
    assert!(!out.exists());
}

#[test]
fn stale_staging_folder_is_deleted() {
    let Some(Imported {
        work,
        checkpoint,
        input,
        ..
    }) = imported(1)
    else {
        return;
    };
    // The staging folder of a translation whose process has ended, as after a SIGKILL.
    let mut ended = Command::new("true").spawn().unwrap();
    ended.wait().unwrap();
    let stale = work.path().join(format!(".out.partial-{}", ended.id()));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("half.png"), b"partial").unwrap();

    let output = translate(&checkpoint, &input, &work.path().join("out"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stale.exists());
    assert!(staging_folders(work.path(), "out").is_empty());
}
