//! The normalised dataset layout and how source paths map onto it.
//!
//! Two source layouts are recognised, at any depth inside the source: the CycleGAN one
//! (`trainA/`, `trainB/`, `testA/`, `testB/`) and the split-then-domain one (`train/A/`,
//! `test/B/`, ...). Both become the first. Only files with an image extension count, so
//! extras such as `metadata.csv`, `.DS_Store` or `__MACOSX/` entries are ignored.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    Train,
    Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Domain {
    A,
    B,
}

/// One folder of the normalised layout, such as `trainA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Folder {
    pub split: Split,
    pub domain: Domain,
}

/// The four folders of the layout, in the order the stages write them.
pub const FOLDERS: [Folder; 4] = [
    Folder::new(Split::Train, Domain::A),
    Folder::new(Split::Train, Domain::B),
    Folder::new(Split::Test, Domain::A),
    Folder::new(Split::Test, Domain::B),
];

const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    fn parse(text: &str) -> Option<Split> {
        match text {
            "train" => Some(Split::Train),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

impl Domain {
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::A => "A",
            Domain::B => "B",
        }
    }

    fn parse(text: &str) -> Option<Domain> {
        match text {
            "A" => Some(Domain::A),
            "B" => Some(Domain::B),
            _ => None,
        }
    }
}

impl Folder {
    pub const fn new(split: Split, domain: Domain) -> Folder {
        Folder { split, domain }
    }

    /// Returns the folder's name in the normalised layout, such as `trainA`.
    pub fn name(self) -> String {
        format!("{}{}", self.split.as_str(), self.domain.as_str())
    }

    fn parse(text: &str) -> Option<Folder> {
        let split_end = text.len().checked_sub(1)?;
        let split = Split::parse(text.get(..split_end)?)?;
        let domain = Domain::parse(text.get(split_end..)?)?;
        Some(Folder::new(split, domain))
    }
}

impl fmt::Display for Folder {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.name())
    }
}

/// Maps a `/`-separated path inside a source to its layout folder and file name, or `None`
/// when the path is not an image of either layout.
pub fn classify_member(path: &str) -> Option<(Folder, String)> {
    let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let (&file, folders) = parts.split_last()?;
    if file.starts_with('.') || folders.contains(&"__MACOSX") || !has_image_extension(file) {
        return None;
    }

    if let Some(folder) = folders.last().and_then(|name| Folder::parse(name)) {
        return Some((folder, file.to_owned()));
    }
    if let [.., split, domain] = folders {
        let folder = Folder::new(Split::parse(split)?, Domain::parse(domain)?);
        return Some((folder, file.to_owned()));
    }
    None
}

fn has_image_extension(file: &str) -> bool {
    let Some((_, extension)) = file.rsplit_once('.') else {
        return false;
    };
    IMAGE_EXTENSIONS
        .iter()
        .any(|known| extension.eq_ignore_ascii_case(known))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyclegan_layout_at_any_depth() {
        let (folder, file) = classify_member("horse2zebra/trainB/n02391049_226.jpg").unwrap();
        assert_eq!(folder, Folder::new(Split::Train, Domain::B));
        assert_eq!(file, "n02391049_226.jpg");
        let (folder, _) = classify_member("testA/x.PNG").unwrap();
        assert_eq!(folder.name(), "testA");
    }

    #[test]
    fn split_then_domain_layout() {
        let (folder, file) = classify_member("mnist_svhn/test/B/00001.png").unwrap();
        assert_eq!(folder, Folder::new(Split::Test, Domain::B));
        assert_eq!(file, "00001.png");
    }

    #[test]
    fn extras_are_ignored() {
        assert_eq!(classify_member("horse2zebra/metadata.csv"), None);
        assert_eq!(classify_member("horse2zebra/trainA/"), None);
        assert_eq!(classify_member("horse2zebra/trainA/.DS_Store"), None);
        assert_eq!(classify_member("__MACOSX/trainA/x.jpg"), None);
        assert_eq!(classify_member("horse2zebra/valA/x.jpg"), None);
        assert_eq!(classify_member("x.jpg"), None);
    }
}
