//! The site index: every file of the embedded archive by path, built once at boot.
//!
//! Paths are stored without a leading slash, exactly as in the archive (`index.html`,
//! `docs/guide.html`). The file bytes are slices of the archive, which is part of the kernel image,
//! so nothing is copied.
//!
//! [`Site::from_archive`] reads the archive with [`crate::tar`]. Paths and ETags are normally
//! slices of the archive too; the few strings that must be made at boot (a path assembled from the
//! ustar `prefix` and `name` fields, an ETag computed for a file the packer did not tag) are leaked
//! once, since the index lives as long as the kernel.

use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Bound;

use crate::tar::{self, TarError};

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
///
/// A path is a file or a directory (has files below it), never both: [`Site::from_archive`]
/// refuses an archive holding both `a` and `a/b`.
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

    /// Builds the index from the embedded archive (see [`crate::tar`] for what is accepted).
    ///
    /// Duplicate paths: the later entry wins, as when a tar archive is extracted (later members
    /// overwrite earlier ones); `sitepack` never writes duplicates. A file without a
    /// `BARESERVE.etag` record gets a strong ETag computed here from its content (FNV-1a 64, see
    /// [`fallback_etag`]).
    pub fn from_archive(archive: &'static [u8]) -> Result<Site, SiteError> {
        let mut entries = Vec::new();
        for entry in tar::entries(archive) {
            let entry = entry?;
            let path: &'static str = match entry.path {
                Cow::Borrowed(path) => path,
                Cow::Owned(path) => path.leak(),
            };
            let etag: &'static str = match entry.etag {
                Some(etag) => etag,
                None => fallback_etag(entry.body).leak(),
            };
            entries.push(FileEntry {
                path,
                body: entry.body,
                modified_unix_s: entry.modified_unix_s,
                etag,
            });
        }
        let site = Site::from_entries(entries);
        // A URL path must name either a file or a directory: with both `a` and `a/b`, `/a` would
        // be ambiguous (file, or redirect to `/a/`).
        if let Some(path) = site.files.keys().find(|path| site.is_directory(path)) {
            return Err(SiteError::FileAndDirectory {
                path: path.to_string(),
            });
        }
        Ok(site)
    }

    /// The file at `path` (no leading slash), if there is one.
    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.files.get(path)
    }

    /// Whether `path` (no leading slash, no trailing slash; empty for the root) is a directory,
    /// that is, whether any file lies below it. O(log n): all paths below `path` sort together,
    /// from `path/` on.
    pub fn is_directory(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        let prefix = directory_prefix(path);
        self.files
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .next()
            .is_some_and(|(name, _)| name.starts_with(prefix.as_str()))
    }

    /// The direct children of directory `directory` (no leading or trailing slash; empty for the
    /// root), in path order: its files and its subdirectories, each subdirectory once. Empty when
    /// `directory` is not a directory.
    pub fn directory_entries(&self, directory: &str) -> Vec<DirectoryEntry<'_>> {
        let prefix = if directory.is_empty() {
            String::new()
        } else {
            directory_prefix(directory)
        };
        let mut children: Vec<DirectoryEntry<'_>> = Vec::new();
        let below = self
            .files
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(name, _)| name.starts_with(prefix.as_str()));
        for (&path, entry) in below {
            let Some(relative) = path.get(prefix.len()..) else {
                continue;
            };
            match relative.split_once('/') {
                None => children.push(DirectoryEntry::File {
                    name: relative,
                    entry,
                }),
                Some((subdirectory, _)) => {
                    // Everything below one subdirectory sorts together, so comparing with the
                    // last child is enough to list it once.
                    let already_listed = matches!(
                        children.last(),
                        Some(DirectoryEntry::Directory { name }) if *name == subdirectory
                    );
                    if !already_listed {
                        children.push(DirectoryEntry::Directory { name: subdirectory });
                    }
                }
            }
        }
        children
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

/// One direct child of a directory, from [`Site::directory_entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryEntry<'site> {
    /// A file directly in the directory.
    File {
        /// Its name within the directory (no slash).
        name: &'static str,
        /// The file.
        entry: &'site FileEntry,
    },
    /// A subdirectory.
    Directory {
        /// Its name within the directory (no slash).
        name: &'static str,
    },
}

/// Why [`Site::from_archive`] refused the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteError {
    /// The archive is malformed or holds something that must not be served.
    Archive(TarError),
    /// `path` is a file and also has files below it.
    FileAndDirectory {
        /// The path.
        path: String,
    },
}

impl From<TarError> for SiteError {
    fn from(error: TarError) -> Self {
        SiteError::Archive(error)
    }
}

impl fmt::Display for SiteError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteError::Archive(error) => write!(formatter, "{error}"),
            SiteError::FileAndDirectory { path } => {
                write!(formatter, "site: {path:?} is both a file and a directory")
            }
        }
    }
}

impl core::error::Error for SiteError {}

/// The strong ETag given at boot to a file the packer did not tag: FNV-1a 64 over the content
/// (<http://www.isthe.com/chongo/tech/comp/fnv/>), 16 lowercase hex digits in double quotes.
/// Cheap and content-based; not collision resistant, which an ETag need not be.
pub fn fallback_etag(content: &[u8]) -> String {
    const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = content.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    });
    alloc::format!("\"{hash:016x}\"")
}

/// `path` followed by `/`: the smallest key of everything below directory `path`.
fn directory_prefix(path: &str) -> String {
    let mut prefix = String::with_capacity(path.len() + 1);
    prefix.push_str(path);
    prefix.push('/');
    prefix
}
