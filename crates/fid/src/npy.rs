//! NumPy `.npy` encoding and decoding for float32 and float64 arrays in C order.
//!
//! The format (numpy's `lib.format`, versions 1.0 to 3.0) is a magic string, a version, a
//! header length, a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (12, 2048), }` padded with spaces to a
//! 64-byte boundary and ended by a newline, then the raw values. Only the three keys numpy
//! writes are read, so a file from `np.save` with a float dtype always parses.

const MAGIC: &[u8] = b"\x93NUMPY";

/// The values of a decoded `.npy` array, in the element type the file stores.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// A decoded `.npy` array in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: NpyData,
}

impl NpyArray {
    /// Returns the values as float64 (float32 values convert exactly).
    pub fn into_f64(self) -> Vec<f64> {
        match self.data {
            NpyData::F32(values) => values.into_iter().map(f64::from).collect(),
            NpyData::F64(values) => values,
        }
    }
}

/// A float type that `.npy` files store.
pub trait NpyElement: Copy {
    /// The little-endian dtype string, e.g. `<f4`.
    const DESCR: &'static str;
    fn write_le(self, out: &mut Vec<u8>);
}

impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyElement for f64 {
    const DESCR: &'static str = "<f8";
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Encodes `values` with `shape` as a version 1.0 `.npy` file.
pub fn encode_npy<T: NpyElement>(shape: &[usize], values: &[T]) -> Vec<u8> {
    debug_assert_eq!(shape.iter().product::<usize>(), values.len());
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    // A one-element tuple needs its trailing comma in Python syntax.
    let shape_literal = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_literal}, }}",
        T::DESCR
    );

    // numpy aligns the start of the data to 64 bytes: magic (6) + version (2) + length (2).
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');

    let mut out = Vec::with_capacity(10 + header.len() + std::mem::size_of_val(values));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // The header of an array with a handful of dimensions is far below u16::MAX.
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &value in values {
        value.write_le(&mut out);
    }
    out
}

/// Decodes a `.npy` file holding a float32 or float64 array in C order.
///
/// Returns a reason (without the file name) when the bytes are not such a file.
pub fn decode_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        return Err("missing the \\x93NUMPY magic string; not a .npy file".into());
    }
    let major = bytes[MAGIC.len()];
    let (header_len, header_start): (usize, usize) = match major {
        1 => (read_le_u16(bytes, 8)? as usize, 10),
        2 | 3 => (read_le_u32(bytes, 8)? as usize, 12),
        other => return Err(format!("unsupported .npy format version {other}")),
    };
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&end| end <= bytes.len())
        .ok_or("header is longer than the file (truncated file)")?;
    let header =
        std::str::from_utf8(&bytes[header_start..header_end]).map_err(|_| "header is not text")?;

    let descr = header_value(header, "descr")?;
    let fortran_order = header_value(header, "fortran_order")?;
    let shape = parse_shape(header_value(header, "shape")?)?;
    if fortran_order.trim() != "False" {
        return Err("array is in Fortran order; save it with np.ascontiguousarray first".into());
    }

    let count = shape
        .iter()
        .try_fold(1usize, |acc, &dim| acc.checked_mul(dim))
        .ok_or("shape overflows the address space")?;
    let body = &bytes[header_end..];
    let descr = parse_quoted(descr)?;
    let data = match descr {
        "<f4" | "|f4" => NpyData::F32(decode_values(body, count, f32::from_le_bytes)?),
        ">f4" => NpyData::F32(decode_values(body, count, f32::from_be_bytes)?),
        "<f8" | "|f8" => NpyData::F64(decode_values(body, count, f64::from_le_bytes)?),
        ">f8" => NpyData::F64(decode_values(body, count, f64::from_be_bytes)?),
        other => {
            return Err(format!(
                "dtype {other} is not float32 or float64; convert with .astype(np.float32)"
            ))
        }
    };
    Ok(NpyArray { shape, data })
}

fn read_le_u16(bytes: &[u8], at: usize) -> Result<u16, String> {
    bytes
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| "file ends inside the header length".to_string())
}

fn read_le_u32(bytes: &[u8], at: usize) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "file ends inside the header length".to_string())
}

/// Returns the raw text of the value stored under `key` in the header dict literal.
fn header_value<'a>(header: &'a str, key: &str) -> Result<&'a str, String> {
    let start = [format!("'{key}'"), format!("\"{key}\"")]
        .iter()
        .find_map(|quoted| header.find(quoted.as_str()).map(|at| at + quoted.len()))
        .ok_or_else(|| format!("header has no '{key}' entry"))?;
    let rest = header[start..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| format!("header entry '{key}' has no value"))?
        .trim_start();

    // The value ends at the first comma outside parentheses, or at the closing brace.
    let mut depth = 0usize;
    for (at, character) in rest.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' | '}' if depth == 0 => return Ok(rest[..at].trim()),
            _ => {}
        }
    }
    Err(format!("header entry '{key}' is not terminated"))
}

fn parse_quoted(value: &str) -> Result<&str, String> {
    value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
        .ok_or_else(|| format!("dtype {value} is not a quoted string"))
}

fn parse_shape(value: &str) -> Result<Vec<usize>, String> {
    let inner = value
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(|| format!("shape {value} is not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|dim| !dim.is_empty())
        .map(|dim| {
            dim.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("shape {value} has a non-integer dimension {dim}"))
        })
        .collect()
}

fn decode_values<T, const N: usize>(
    body: &[u8],
    count: usize,
    from_bytes: fn([u8; N]) -> T,
) -> Result<Vec<T>, String> {
    let expected = count
        .checked_mul(N)
        .ok_or("shape overflows the address space")?;
    if body.len() != expected {
        return Err(format!(
            "data holds {} bytes but the shape needs {expected} (truncated or corrupt file)",
            body.len()
        ));
    }
    Ok(body
        .chunks_exact(N)
        .map(|chunk| {
            let mut raw = [0u8; N];
            raw.copy_from_slice(chunk);
            from_bytes(raw)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_keeps_shape_and_values() {
        let values = [1.5f32, -2.0, 0.25, 3.0, 4.0, f32::MAX];
        let bytes = encode_npy(&[2, 3], &values);
        let array = decode_npy(&bytes).unwrap();
        assert_eq!(array.shape, vec![2, 3]);
        assert_eq!(array.data, NpyData::F32(values.to_vec()));
    }

    #[test]
    fn header_aligns_data_to_64_bytes() {
        let bytes = encode_npy(&[3], &[1.0f64, 2.0, 3.0]);
        assert_eq!((bytes.len() - 3 * 8) % 64, 0);
        assert_eq!(bytes[bytes.len() - 3 * 8 - 1], b'\n');
        let header = std::str::from_utf8(&bytes[10..bytes.len() - 24]).unwrap();
        assert!(header.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"));
    }

    #[test]
    fn numpy_written_header_parses() {
        // Header exactly as numpy 2.x writes it for np.zeros((2, 1), np.float32).
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<117}\n");
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(&[0; 8]);
        let array = decode_npy(&bytes).unwrap();
        assert_eq!(array.shape, vec![2, 1]);
    }

    #[test]
    fn truncated_data_is_rejected() {
        let bytes = encode_npy(&[4], &[1.0f32, 2.0, 3.0, 4.0]);
        let error = decode_npy(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(error.contains("truncated"), "{error}");
    }

    #[test]
    fn integer_dtype_is_rejected() {
        let mut bytes = encode_npy(&[1], &[1.0f32]);
        let at = bytes.windows(3).position(|w| w == b"<f4").unwrap();
        bytes[at..at + 3].copy_from_slice(b"<i4");
        let error = decode_npy(&bytes).unwrap_err();
        assert!(error.contains("<i4"), "{error}");
    }

    #[test]
    fn fortran_order_is_rejected() {
        let mut bytes = encode_npy(&[1], &[1.0f32]);
        let at = bytes.windows(5).position(|w| w == b"False").unwrap();
        bytes[at..at + 5].copy_from_slice(b"True ");
        let error = decode_npy(&bytes).unwrap_err();
        assert!(error.contains("Fortran"), "{error}");
    }

    #[test]
    fn every_prefix_fails_without_panic() {
        let bytes = encode_npy(&[2, 2], &[1.0f64, 2.0, 3.0, 4.0]);
        for end in 0..bytes.len() {
            assert!(decode_npy(&bytes[..end]).is_err(), "prefix of {end} bytes");
        }
    }
}
