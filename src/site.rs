//! The site index: every file of the embedded archive by path, built once at boot.
//!
//! Paths are stored without a leading slash, exactly as in the archive (`index.html`,
//! `docs/guide.html`). The file bytes are slices of the archive, which is part of the kernel image,
//! so nothing is copied.

use alloc::collections::BTreeMap;

/// One regular file of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The path inside the site, without a leading slash (`docs/index.html`).
    pub path: &'static str,
    /// The file's content, a slice of the embedded archive.
    pub body: &'static [u8],
    /// Modification time, seconds since the Unix epoch (from the archive header).
    pub modified_unix_s: u64,
    /// Strong entity tag including the double quotes (`"5d41402abc4b2a76"`), computed from the
    /// content at build time (RFC 9110 §8.8.3).
    pub etag: &'static str,
}

/// The index of all files of the site, by path. Lookup is O(log n) (a B-tree).
#[derive(Debug, Default, Clone)]
pub struct Site {
    files: BTreeMap<&'static str, FileEntry>,
    total_bytes: u64,
}

impl Site {
    /// Builds an index from file entries (the archive reader uses this; so do tests).
    /// A later entry with the same path replaces an earlier one.
    pub fn from_entries(entries: impl IntoIterator<Item = FileEntry>) -> Site {
        let mut site = Site::default();
        for entry in entries {
            site.total_bytes += entry.body.len() as u64;
            if let Some(previous) = site.files.insert(entry.path, entry) {
                site.total_bytes -= previous.body.len() as u64;
            }
        }
        site
    }

    /// The file at `path` (no leading slash), if there is one.
    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.files.get(path)
    }

    /// Whether `path` (no leading slash, no trailing slash; empty for the root) is a directory,
    /// that is, whether any file lies below it.
    pub fn is_directory(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        self.files
            .range::<str, _>((core::ops::Bound::Excluded(path), core::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(name, _)| {
                name.len() > path.len() && name.starts_with(path) && name.as_bytes()[path.len()] == b'/'
            })
            || self.files.keys().any(|name| {
                name.len() > path.len() && name.starts_with(path) && name.as_bytes()[path.len()] == b'/'
            })
    }

    /// All files, in path order.
    pub fn files(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.values()
    }

    /// Number of files.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Sum of all file sizes in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }
}
