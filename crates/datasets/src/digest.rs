//! The content digest that pins a dataset.
//!
//! It covers the images themselves, not their container: blake3 over the images sorted by
//! their normalised name (`trainA/n02381460_1001.jpg`), each contributing its name length
//! (u64, little-endian), name, byte length (u64, little-endian) and bytes. The lengths make the
//! encoding unambiguous. So the official zip, a repacked zip and an unpacked folder, in either
//! layout, give the same digest, while renaming, adding, removing or changing an image does not.

/// An incremental content digest; entries must be added in increasing name order.
pub struct ContentDigest {
    hasher: blake3::Hasher,
    last_name: Option<String>,
}

impl Default for ContentDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl ContentDigest {
    pub fn new() -> ContentDigest {
        ContentDigest {
            hasher: blake3::Hasher::new(),
            last_name: None,
        }
    }

    /// Adds one file.
    ///
    /// # Panics
    /// If `name` does not sort after the previous name, because the digest would then depend
    /// on the order a source happens to list its files in.
    pub fn add(&mut self, name: &str, bytes: &[u8]) {
        if let Some(last) = &self.last_name {
            assert!(
                last.as_str() < name,
                "content digest entries out of order: {last} then {name}"
            );
        }
        self.hasher.update(&(name.len() as u64).to_le_bytes());
        self.hasher.update(name.as_bytes());
        self.hasher.update(&(bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
        self.last_name = Some(name.to_owned());
    }

    /// Returns the digest as 64 lowercase hex digits.
    pub fn finish(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}
