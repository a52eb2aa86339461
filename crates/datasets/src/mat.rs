//! MATLAB v5 `.mat` files, as far as SVHN's `train_32x32.mat` and `test_32x32.mat` need.
//!
//! A v5 file is a 128-byte header (text, subsystem offset, version 0x0100, endian indicator
//! `IM` for little-endian) followed by data elements. Each element has an 8-byte tag (type,
//! byte count) and data padded to 8 bytes, or a 4-byte "small element" tag with up to 4 bytes
//! of data when the upper half of the type word is non-zero. A variable is a miMATRIX element
//! (14), possibly zlib-compressed inside a miCOMPRESSED element (15), whose sub-elements are
//! the array flags, the dimensions, the name and the real part. Arrays are column-major.

use std::io::Read;
use std::path::Path;

use crate::MatError;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

const MX_DOUBLE_CLASS: u8 = 6;
const MX_UINT8_CLASS: u8 = 9;
const COMPLEX_FLAG: u32 = 0x0800;

/// The values of a numeric array, in the array's class.
#[derive(Debug, Clone, PartialEq)]
pub enum MatData {
    U8(Vec<u8>),
    F64(Vec<f64>),
}

/// A variable of a `.mat` file: name, dimensions and column-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    pub name: String,
    pub dimensions: Vec<usize>,
    pub data: MatData,
}

/// SVHN cropped digits: `count` RGB 32x32 images, row-major and interleaved, and their digits.
#[derive(Debug, Clone)]
pub struct SvhnDigits {
    pub count: usize,
    /// `count * 32 * 32 * 3` bytes: image, row, column, channel.
    pub pixels: Vec<u8>,
    /// Digits 0-9 (the file's label 10 stands for 0).
    pub labels: Vec<u8>,
}

impl SvhnDigits {
    /// Returns digit image `index`.
    ///
    /// # Panics
    /// If `index >= count`.
    pub fn image(&self, index: usize) -> imaging::RgbImage {
        const SIZE: usize = 32 * 32 * 3;
        let pixels = self.pixels[index * SIZE..(index + 1) * SIZE].to_vec();
        imaging::RgbImage::from_raw(32, 32, pixels).expect("an SVHN image has 32x32x3 bytes")
    }
}

/// Reads SVHN's `X` (uint8 [32, 32, 3, N]) and `y` ([N, 1]) from a `.mat` file.
pub fn read_svhn(path: impl AsRef<Path>) -> Result<SvhnDigits, MatError> {
    let path = path.as_ref();
    let variables = read_mat(path)?;
    let find = |name: &str| {
        variables
            .iter()
            .find(|variable| variable.name == name)
            .ok_or_else(|| MatError::MissingVariable {
                path: path.to_owned(),
                name: name.to_owned(),
            })
    };
    let wrong_shape = |name: &str, detail: String| MatError::WrongShape {
        path: path.to_owned(),
        name: name.to_owned(),
        detail,
    };

    let x = find("X")?;
    let MatData::U8(samples) = &x.data else {
        return Err(wrong_shape("X", "is not uint8".to_owned()));
    };
    let [32, 32, 3, count] = x.dimensions[..] else {
        return Err(wrong_shape(
            "X",
            format!("has dimensions {:?}, expected [32, 32, 3, N]", x.dimensions),
        ));
    };

    let y = find("y")?;
    let labels_ok = matches!(y.dimensions[..], [n, 1] | [1, n] if n == count);
    if !labels_ok {
        return Err(wrong_shape(
            "y",
            format!("has dimensions {:?}, expected [{count}, 1]", y.dimensions),
        ));
    }
    let raw_labels: Vec<f64> = match &y.data {
        MatData::F64(values) => values.clone(),
        MatData::U8(values) => values.iter().map(|&value| f64::from(value)).collect(),
    };
    let mut labels = Vec::with_capacity(count);
    for (index, &label) in raw_labels.iter().enumerate() {
        if !(1.0..=10.0).contains(&label) || label.fract() != 0.0 {
            return Err(wrong_shape(
                "y",
                format!("holds label {label} at index {index}; SVHN labels are 1-10"),
            ));
        }
        labels.push((label as u8) % 10);
    }

    // Column-major [row, column, channel, image] to row-major interleaved RGB.
    let mut pixels = vec![0u8; count * 32 * 32 * 3];
    for image in 0..count {
        for channel in 0..3 {
            for column in 0..32 {
                for row in 0..32 {
                    let source = row + 32 * column + 1024 * channel + 3072 * image;
                    let target = ((image * 32 + row) * 32 + column) * 3 + channel;
                    pixels[target] = samples[source];
                }
            }
        }
    }
    Ok(SvhnDigits {
        count,
        pixels,
        labels,
    })
}

/// Reads every numeric variable of a MATLAB v5 file; other kinds of variable are skipped.
pub fn read_mat(path: impl AsRef<Path>) -> Result<Vec<MatArray>, MatError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| MatError::Io {
        path: path.to_owned(),
        source,
    })?;
    let reader = MatReader { path };
    reader.read_file(&bytes)
}

struct MatReader<'a> {
    path: &'a Path,
}

/// One data element: its type and data, and the offset of the next element.
struct Element<'b> {
    data_type: u32,
    data: &'b [u8],
    next: usize,
}

#[derive(Clone, Copy)]
struct Endian {
    big: bool,
}

impl Endian {
    fn u32(self, bytes: &[u8]) -> u32 {
        let array = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if self.big {
            u32::from_be_bytes(array)
        } else {
            u32::from_le_bytes(array)
        }
    }
}

impl MatReader<'_> {
    fn truncated(&self, detail: &str) -> MatError {
        MatError::Truncated {
            path: self.path.to_owned(),
            detail: detail.to_owned(),
        }
    }

    fn unsupported(&self, detail: String) -> MatError {
        MatError::Unsupported {
            path: self.path.to_owned(),
            detail,
        }
    }

    fn read_file(&self, bytes: &[u8]) -> Result<Vec<MatArray>, MatError> {
        let not_v5 = |detail: &str| MatError::NotMatV5 {
            path: self.path.to_owned(),
            detail: detail.to_owned(),
        };
        if bytes.len() < 128 {
            return Err(not_v5("shorter than the 128-byte header"));
        }
        let endian = match &bytes[126..128] {
            b"IM" => Endian { big: false },
            b"MI" => Endian { big: true },
            _ => return Err(not_v5("no endian indicator at byte 126")),
        };
        let version = if endian.big {
            u16::from_be_bytes([bytes[124], bytes[125]])
        } else {
            u16::from_le_bytes([bytes[124], bytes[125]])
        };
        if version != 0x0100 {
            return Err(not_v5(&format!("version {version:#06x}, expected 0x0100")));
        }

        let mut variables = Vec::new();
        let mut offset = 128;
        while offset < bytes.len() {
            let element = self.element(bytes, offset, endian)?;
            offset = element.next;
            match element.data_type {
                MI_MATRIX => variables.extend(self.matrix(element.data, endian)?),
                MI_COMPRESSED => {
                    let mut inflated = Vec::new();
                    flate2::read::ZlibDecoder::new(element.data)
                        .read_to_end(&mut inflated)
                        .map_err(|error| {
                            self.truncated(&format!("compressed variable: {error}"))
                        })?;
                    let inner = self.element(&inflated, 0, endian)?;
                    if inner.data_type == MI_MATRIX {
                        variables.extend(self.matrix(inner.data, endian)?);
                    }
                }
                _ => {}
            }
        }
        Ok(variables)
    }

    fn element<'b>(
        &self,
        bytes: &'b [u8],
        offset: usize,
        endian: Endian,
    ) -> Result<Element<'b>, MatError> {
        let tag = bytes
            .get(offset..offset + 8)
            .ok_or_else(|| self.truncated("a data element tag is cut"))?;
        let first = endian.u32(tag);
        let small_size = (first >> 16) as usize;
        if small_size != 0 {
            // Small element: the size is in the upper half, the data in the tag's last 4 bytes.
            if small_size > 4 {
                return Err(self.unsupported(format!("small element of {small_size} bytes")));
            }
            return Ok(Element {
                data_type: first & 0xffff,
                data: &tag[4..4 + small_size],
                next: offset + 8,
            });
        }

        let size = endian.u32(&tag[4..]) as usize;
        let start = offset + 8;
        let data = bytes
            .get(start..start + size)
            .ok_or_else(|| self.truncated("a data element ends past the end of the file"))?;
        // Compressed elements are not padded; every other element is padded to 8 bytes.
        let padded = if first == MI_COMPRESSED {
            size
        } else {
            size.div_ceil(8) * 8
        };
        Ok(Element {
            data_type: first,
            data,
            next: start + padded,
        })
    }

    fn matrix(&self, bytes: &[u8], endian: Endian) -> Result<Option<MatArray>, MatError> {
        let flags = self.element(bytes, 0, endian)?;
        if flags.data_type != MI_UINT32 || flags.data.len() < 8 {
            return Err(self.unsupported("array flags are not two uint32 values".to_owned()));
        }
        let flag_word = endian.u32(flags.data);
        let class = (flag_word & 0xff) as u8;
        if class != MX_DOUBLE_CLASS && class != MX_UINT8_CLASS {
            return Ok(None);
        }
        if flag_word & COMPLEX_FLAG != 0 {
            return Err(self.unsupported("complex arrays are not supported".to_owned()));
        }

        let dimensions_element = self.element(bytes, flags.next, endian)?;
        if dimensions_element.data_type != MI_INT32 {
            return Err(self.unsupported("array dimensions are not int32".to_owned()));
        }
        let dimensions: Vec<usize> = dimensions_element
            .data
            .chunks_exact(4)
            .map(|chunk| endian.u32(chunk) as usize)
            .collect();

        let name_element = self.element(bytes, dimensions_element.next, endian)?;
        let name = String::from_utf8_lossy(name_element.data).into_owned();

        let real = self.element(bytes, name_element.next, endian)?;
        let values = self.numbers(real.data_type, real.data, endian)?;
        let expected: usize = dimensions.iter().product();
        if values.len() != expected {
            return Err(MatError::WrongShape {
                path: self.path.to_owned(),
                name,
                detail: format!(
                    "holds {} values for dimensions {dimensions:?}",
                    values.len()
                ),
            });
        }

        let data = if class == MX_UINT8_CLASS {
            MatData::U8(match values {
                Numbers::U8(values) => values,
                Numbers::F64(values) => values.iter().map(|&value| value as u8).collect(),
            })
        } else {
            MatData::F64(match values {
                Numbers::U8(values) => values.iter().map(|&value| f64::from(value)).collect(),
                Numbers::F64(values) => values,
            })
        };
        Ok(Some(MatArray {
            name,
            dimensions,
            data,
        }))
    }

    /// Decodes stored numbers. MATLAB may store a double array in a smaller integer type that
    /// fits its values (for example uint8 for SVHN's labels), so any storage type may appear.
    fn numbers(&self, data_type: u32, data: &[u8], endian: Endian) -> Result<Numbers, MatError> {
        let big = endian.big;
        macro_rules! convert {
            ($type:ty, $width:expr) => {
                data.chunks_exact($width)
                    .map(|chunk| {
                        let array: [u8; $width] = chunk.try_into().expect("chunk has the width");
                        let value = if big {
                            <$type>::from_be_bytes(array)
                        } else {
                            <$type>::from_le_bytes(array)
                        };
                        value as f64
                    })
                    .collect()
            };
        }
        let values: Vec<f64> = match data_type {
            MI_UINT8 => return Ok(Numbers::U8(data.to_vec())),
            MI_INT8 => convert!(i8, 1),
            MI_INT16 => convert!(i16, 2),
            MI_UINT16 => convert!(u16, 2),
            MI_INT32 => convert!(i32, 4),
            MI_UINT32 => convert!(u32, 4),
            MI_SINGLE => convert!(f32, 4),
            MI_DOUBLE => convert!(f64, 8),
            MI_INT64 => convert!(i64, 8),
            MI_UINT64 => convert!(u64, 8),
            other => return Err(self.unsupported(format!("numeric storage type {other}"))),
        };
        Ok(Numbers::F64(values))
    }
}

enum Numbers {
    U8(Vec<u8>),
    F64(Vec<f64>),
}

impl Numbers {
    fn len(&self) -> usize {
        match self {
            Numbers::U8(values) => values.len(),
            Numbers::F64(values) => values.len(),
        }
    }
}
