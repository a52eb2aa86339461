//! Downloads from a local HTTP server: resuming a partial file with a Range request,
//! restarting when the server ignores the range, and failing on an HTTP error.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

use datasets::{DatasetError, NoProgress};

/// The test server's response to a request.
#[derive(Clone, Copy)]
enum Behaviour {
    HonourRange,
    IgnoreRange,
    NotFound,
}

fn content() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect()
}

/// Serves `content()` for one request on a local port; returns the address and a channel
/// that receives the request's Range header (empty when absent).
fn serve_once(behaviour: Behaviour) -> (String, mpsc::Receiver<String>) {
    serve_body_once(behaviour, content())
}

/// Serves `body` for one request, as [`serve_once`] does.
fn serve_body_once(behaviour: Behaviour, body: Vec<u8>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}/data.zip", listener.local_addr().unwrap());
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).unwrap() == 0 {
                break;
            }
            request.push(byte[0]);
        }
        let request = String::from_utf8_lossy(&request).to_lowercase();
        let range_start: Option<usize> = request
            .lines()
            .find_map(|line| line.strip_prefix("range: bytes="))
            .and_then(|value| value.trim().trim_end_matches('-').parse().ok());
        sender
            .send(
                range_start
                    .map(|start| start.to_string())
                    .unwrap_or_default(),
            )
            .unwrap();

        let response = match (behaviour, range_start) {
            (Behaviour::NotFound, _) => {
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
            }
            (Behaviour::HonourRange, Some(start)) => {
                let mut response = format!(
                    "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\n\
                     content-range: bytes {start}-{}/{}\r\nconnection: close\r\n\r\n",
                    body.len() - start,
                    body.len() - 1,
                    body.len()
                )
                .into_bytes();
                response.extend_from_slice(&body[start..]);
                response
            }
            _ => {
                let mut response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                response.extend_from_slice(&body);
                response
            }
        };
        stream.write_all(&response).unwrap();
    });
    (address, receiver)
}

#[test]
fn partial_download_resumes_with_range() {
    let folder = tempfile::tempdir().unwrap();
    let target = folder.path().join("data.zip");
    std::fs::write(folder.path().join("data.zip.part"), &content()[..40_000]).unwrap();

    let (address, ranges) = serve_once(Behaviour::HonourRange);
    datasets::download(&address, &target, &NoProgress).expect("download completes");
    assert_eq!(
        ranges.recv().unwrap(),
        "40000",
        "resumed from the part file's length"
    );
    assert_eq!(std::fs::read(&target).unwrap(), content());
    assert!(!folder.path().join("data.zip.part").exists());
}

#[test]
fn ignored_range_restarts_download() {
    let folder = tempfile::tempdir().unwrap();
    let target = folder.path().join("data.zip");
    std::fs::write(folder.path().join("data.zip.part"), b"stale bytes").unwrap();

    let (address, ranges) = serve_once(Behaviour::IgnoreRange);
    datasets::download(&address, &target, &NoProgress).expect("download completes");
    assert_eq!(ranges.recv().unwrap(), "11");
    assert_eq!(std::fs::read(&target).unwrap(), content());
}

#[test]
fn http_error_names_the_address() {
    let folder = tempfile::tempdir().unwrap();
    let target = folder.path().join("data.zip");
    let (address, _ranges) = serve_once(Behaviour::NotFound);
    let error = datasets::download(&address, &target, &NoProgress).expect_err("404");
    assert!(matches!(error, DatasetError::Download { .. }), "{error}");
    assert!(error.to_string().contains(&address), "{error}");
    assert!(!target.exists());
}

/// Returns a zip in the CycleGAN layout containing one PNG, and that image's content digest.
fn small_dataset_zip() -> (Vec<u8>, String) {
    let mut png = Vec::new();
    let image = image::RgbImage::from_pixel(4, 3, image::Rgb([200, 10, 60]));
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();

    let mut zip_bytes = Vec::new();
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(&mut zip_bytes));
    writer
        .start_file(
            "tiny/trainA/a.png",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    writer.write_all(&png).unwrap();
    writer.finish().unwrap();

    let mut digest = datasets::ContentDigest::new();
    digest.add("trainA/a.png", &png);
    (zip_bytes, digest.finish())
}

#[test]
fn missing_archive_is_downloaded_and_verified() {
    let (zip_bytes, digest) = small_dataset_zip();
    let folder = tempfile::tempdir().unwrap();
    let (address, _ranges) = serve_body_once(Behaviour::HonourRange, zip_bytes);

    let mut params = datasets::DatasetParams::named("tiny");
    params.archive = Some(folder.path().join("data/tiny.zip"));
    params.url = Some(address);
    params.digest = Some(digest);
    let out = folder.path().join("out");
    let summary = datasets::materialize(&params, &out, &NoProgress).expect("downloads");
    assert_eq!(summary.images_per_folder["trainA"], 1);
    assert!(folder.path().join("data/tiny.zip").is_file());
    assert!(out.join("trainA/a.png").is_file());
}
