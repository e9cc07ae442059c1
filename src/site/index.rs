//! The site index: every file of the embedded archive by path, built once at boot.
//!
//! Paths are stored without a leading slash, exactly as in the archive (`index.html`,
//! `docs/guide.html`). The file bytes are slices of the archive, which is part of the kernel image,
//! so nothing is copied.
//!
//! [`Site::from_archive`] reads the archive with [`super::archive`]. Paths and ETags are normally
//! slices of the archive too; the few strings that must be made at boot (a path assembled from the
//! ustar `prefix` and `name` fields, an ETag computed for a file the packer did not tag) are leaked
//! once, since the index lives as long as the kernel.

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::archive::{self as tar, TarError};

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

/// The index of all files of the site, by path: a vector sorted by path (bytes), so lookup is a
/// binary search, O(log n), and every file has a fixed position ([`Site::position`]) that tables
/// built beside the site (the prepared response heads) are indexed by.
///
/// A path is a file or a directory (has files below it), never both: [`Site::from_archive`]
/// refuses an archive holding both `a` and `a/b`.
#[derive(Debug, Default, Clone)]
pub struct Site {
    files: Vec<FileEntry>,
    total_bytes: u64,
}

impl Site {
    /// Builds an index from file entries (the archive reader uses this; so do tests).
    /// A later entry with the same path replaces an earlier one.
    pub fn from_entries(entries: impl IntoIterator<Item = FileEntry>) -> Site {
        let mut files: Vec<FileEntry> = entries.into_iter().collect();
        // A stable sort keeps equal paths in their given order, so the last of each run is the
        // later entry; sitepack writes paths in order, which the sort leaves without a move.
        crate::sorting::sort_by_key(&mut files, |entry| entry.path.as_bytes());
        let mut kept: Vec<FileEntry> = Vec::with_capacity(files.len());
        for entry in files {
            match kept.last_mut() {
                Some(last) if last.path == entry.path => *last = entry,
                _ => kept.push(entry),
            }
        }
        kept.shrink_to_fit();
        let total_bytes = kept.iter().map(|entry| entry.body.len() as u64).sum();
        Site {
            files: kept,
            total_bytes,
        }
    }

    /// Builds the index from the embedded archive (see [`super::archive`] for what is accepted).
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
        if let Some(path) = site
            .files
            .iter()
            .map(|entry| entry.path)
            .find(|path| site.is_directory(path))
        {
            return Err(SiteError::FileAndDirectory {
                path: path.to_string(),
            });
        }
        Ok(site)
    }

    /// The file at `path` (no leading slash), if there is one.
    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.position(path).and_then(|index| self.files.get(index))
    }

    /// The position of the file at `path` (no leading slash) among all files in path order,
    /// if there is one: the index of [`Site::files`] and of [`Site::file_at`].
    pub fn position(&self, path: &str) -> Option<usize> {
        self.files
            .binary_search_by(|entry| entry.path.as_bytes().cmp(path.as_bytes()))
            .ok()
    }

    /// The file at position `index` (see [`Site::position`]).
    pub fn file_at(&self, index: usize) -> Option<&FileEntry> {
        self.files.get(index)
    }

    /// Files from the first whose path is not below `prefix` in byte order on: everything
    /// whose path starts with `prefix` comes first, together.
    fn files_from(&self, prefix: &str) -> &[FileEntry] {
        let start = self
            .files
            .partition_point(|entry| entry.path.as_bytes() < prefix.as_bytes());
        self.files.get(start..).unwrap_or_default()
    }

    /// Whether `path` (no leading slash, no trailing slash; empty for the root) is a directory,
    /// that is, whether any file lies below it. O(log n): all paths below `path` sort together,
    /// from `path/` on.
    pub fn is_directory(&self, path: &str) -> bool {
        if path.is_empty() {
            return true;
        }
        let prefix = directory_prefix(path);
        self.files_from(&prefix)
            .first()
            .is_some_and(|entry| entry.path.starts_with(prefix.as_str()))
    }

    /// The direct children of directory `directory` (no leading or trailing slash; empty for the
    /// root), in name order (bytes): its files and its subdirectories, each subdirectory once. Empty when
    /// `directory` is not a directory.
    pub fn directory_entries(&self, directory: &str) -> Vec<DirectoryEntry<'_>> {
        let prefix = if directory.is_empty() {
            String::new()
        } else {
            directory_prefix(directory)
        };
        let mut children: Vec<DirectoryEntry<'_>> = Vec::new();
        let below = self
            .files_from(&prefix)
            .iter()
            .take_while(|entry| entry.path.starts_with(prefix.as_str()));
        for entry in below {
            let path = entry.path;
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
        // Path order puts `docs.txt` before the files of `docs/` ('.' < '/'); a listing wants
        // name order.
        crate::sorting::sort_by_key(&mut children, |child| child.name().as_bytes());
        children
    }

    /// All files, in path order.
    pub fn files(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter()
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

impl DirectoryEntry<'_> {
    /// The child's name within the directory.
    pub fn name(&self) -> &'static str {
        match self {
            DirectoryEntry::File { name, .. } | DirectoryEntry::Directory { name } => name,
        }
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;
    use sitepack::ArchiveBuilder;

    /// Tests need `'static` archives, as the kernel has; leaking a few kilobytes per test is fine.
    fn leak(bytes: Vec<u8>) -> &'static [u8] {
        bytes.leak()
    }

    fn archive_of(files: &[(&str, &[u8])]) -> &'static [u8] {
        let mut builder = ArchiveBuilder::new();
        for (path, content) in files {
            builder
                .append_file(path, 1_000, content, &sitepack::etag_for_content(content))
                .unwrap();
        }
        leak(builder.finish())
    }

    fn entry(path: &'static str, body: &'static [u8]) -> FileEntry {
        FileEntry {
            path,
            body,
            modified_unix_s: 0,
            etag: "\"e\"",
        }
    }

    fn sample_site() -> Site {
        Site::from_archive(archive_of(&[
            ("index.html", b"<h1>home</h1>"),
            ("style.css", b"body{}"),
            ("docs/index.html", b"docs"),
            ("docs/guide/a.html", b"a"),
            ("docs/guide/b.html", b"b"),
            ("docs/guide.html", b"guide"),
            ("docs-old/x.html", b"x"),
            ("docs.txt", b"t"),
        ]))
        .unwrap()
    }

    #[test]
    fn from_archive_indexes_every_file_with_its_etag() {
        let archive = archive_of(&[("index.html", b"hello"), ("a/b.txt", b"")]);
        let site = Site::from_archive(archive).unwrap();
        assert_eq!(site.file_count(), 2);
        assert_eq!(site.total_bytes(), 5);
        let index = site.get("index.html").unwrap();
        assert_eq!(index.body, b"hello");
        assert_eq!(index.modified_unix_s, 1_000);
        assert_eq!(index.etag, sitepack::etag_for_content(b"hello"));
        // The body is a slice of the archive, not a copy.
        let archive_range = archive.as_ptr_range();
        assert!(archive_range.contains(&index.body.as_ptr()));
        assert!(archive_range.contains(&index.etag.as_ptr()));
        assert_eq!(site.get("a/b.txt").unwrap().body, b"");
        assert!(site.get("missing").is_none());
        assert!(site.get("/index.html").is_none());
    }

    #[test]
    fn files_without_an_etag_get_the_fallback() {
        // A plain ustar archive, as `tar --format=ustar` would write: no pax records.
        let mut header = [0u8; 512];
        header[..5].copy_from_slice(b"a.txt");
        header[100..108].copy_from_slice(b"0000644\0");
        header[124..136].copy_from_slice(b"00000000001\0");
        header[136..148].copy_from_slice(b"00000000077\0");
        header[156] = b'0';
        header[257..265].copy_from_slice(b"ustar\x0000");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&byte| u32::from(byte)).sum();
        header[148..156].copy_from_slice(alloc::format!("{sum:06o}\0 ").as_bytes());
        let mut bytes = Vec::from(header);
        bytes.push(b'a');
        bytes.resize(4 * 512, 0);
        let site = Site::from_archive(leak(bytes)).unwrap();
        let file = site.get("a.txt").unwrap();
        assert_eq!(file.etag, fallback_etag(b"a"));
        assert_eq!(file.modified_unix_s, 0o77);
    }

    #[test]
    fn fallback_etag_is_fnv1a_64() {
        // Reference values from the FNV test suite (fnv1a64 of "" and "a").
        assert_eq!(fallback_etag(b""), "\"cbf29ce484222325\"");
        assert_eq!(fallback_etag(b"a"), "\"af63dc4c8601ec8c\"");
        assert_eq!(fallback_etag(b"foobar"), "\"85944171f73967e8\"");
    }

    #[test]
    fn duplicate_paths_last_wins() {
        let mut builder = ArchiveBuilder::new();
        builder.append_file("a.txt", 1, b"first", "\"1\"").unwrap();
        builder
            .append_file("a.txt", 2, b"second!", "\"2\"")
            .unwrap();
        let site = Site::from_archive(leak(builder.finish())).unwrap();
        assert_eq!(site.file_count(), 1);
        assert_eq!(site.total_bytes(), 7);
        let file = site.get("a.txt").unwrap();
        assert_eq!((file.body, file.etag), (&b"second!"[..], "\"2\""));
    }

    #[test]
    fn a_path_cannot_be_file_and_directory() {
        let error = Site::from_archive(archive_of(&[("a", b"1"), ("a/b", b"2")])).unwrap_err();
        assert_eq!(error, SiteError::FileAndDirectory { path: "a".into() });
        assert_eq!(
            alloc::format!("{error}"),
            "site: \"a\" is both a file and a directory"
        );
    }

    #[test]
    fn archive_errors_pass_through() {
        let mut bytes = archive_of(&[("a", b"1")]).to_vec();
        bytes[1024 + 10] ^= 1; // inside the file's ustar header, after the pax header and data
        let error = Site::from_archive(leak(bytes)).unwrap_err();
        assert!(
            matches!(
                &error,
                SiteError::Archive(TarError {
                    offset: 1024,
                    kind: tar::TarErrorKind::BadChecksum { .. },
                    ..
                })
            ),
            "{error}"
        );
    }

    #[test]
    fn is_directory_table() {
        let site = sample_site();
        for (path, expected) in [
            ("", true),
            ("docs", true),
            ("docs/guide", true),
            ("docs-old", true),
            ("doc", false),
            ("docs/guide/a.html", false),
            ("docs/index.html", false),
            ("docs.txt", false),
            ("style.css", false),
            ("missing", false),
            ("docs/gui", false),
        ] {
            assert_eq!(site.is_directory(path), expected, "{path:?}");
        }
        // `a-c` and `a.txt` sort between `a` and `a/`: the range query must not stop there.
        let site = Site::from_entries([entry("a-c", b""), entry("a.txt", b""), entry("a/x", b"")]);
        assert!(site.is_directory("a"));
        let site = Site::from_entries([entry("a-c/x", b""), entry("a.txt", b"")]);
        assert!(!site.is_directory("a"));
    }

    #[test]
    fn directory_entries_lists_direct_children_once() {
        let site = sample_site();
        let names = |directory: &str| -> Vec<(&'static str, bool)> {
            site.directory_entries(directory)
                .into_iter()
                .map(|child| match child {
                    DirectoryEntry::File { name, entry } => {
                        assert!(entry.path.ends_with(name));
                        (name, false)
                    }
                    DirectoryEntry::Directory { name } => (name, true),
                })
                .collect()
        };
        assert_eq!(
            names(""),
            vec![
                ("docs", true),
                ("docs-old", true),
                ("docs.txt", false),
                ("index.html", false),
                ("style.css", false),
            ]
        );
        assert_eq!(
            names("docs"),
            vec![
                ("guide", true),
                ("guide.html", false),
                ("index.html", false)
            ]
        );
        assert_eq!(
            names("docs/guide"),
            vec![("a.html", false), ("b.html", false)]
        );
        assert!(names("missing").is_empty());
        assert!(names("index.html").is_empty());
    }

    #[test]
    fn from_entries_keeps_totals_with_replacements() {
        let site = Site::from_entries([entry("a", b"12345"), entry("b", b"1"), entry("a", b"12")]);
        assert_eq!(site.file_count(), 2);
        assert_eq!(site.total_bytes(), 3);
        let paths: Vec<&str> = site.files().map(|file| file.path).collect();
        assert_eq!(paths, ["a", "b"]);
    }

    proptest! {
        /// A mutated archive gives a site or an error, never a panic; a site only ever holds safe
        /// paths whose bodies lie inside the archive.
        #[test]
        fn mutated_archives_never_panic(
            mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let mut bytes = archive_of(&[
                ("index.html", b"<h1>home</h1>"),
                ("docs/index.html", b"docs"),
            ])
            .to_vec();
            for (index, value) in mutations {
                let position = index.index(bytes.len());
                bytes[position] = value;
            }
            let archive = leak(bytes);
            if let Ok(site) = Site::from_archive(archive) {
                let range = archive.as_ptr_range();
                for file in site.files() {
                    prop_assert!(tar::check_path(file.path).is_ok());
                    prop_assert!(file.body.is_empty() || range.contains(&file.body.as_ptr()));
                    prop_assert!(tar::is_strong_etag(file.etag));
                }
            }
        }
    }
}
