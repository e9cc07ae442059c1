//! Packs a site directory into the deterministic tar archive that the kernel embeds.
//!
//! The format is POSIX pax (POSIX.1-2017, XCU `pax`, "pax Interchange Format"): every file is a
//! ustar header block followed by its content padded to 512-byte blocks, preceded by a pax
//! extended header (typeflag `x`) that carries the build-time strong ETag under the vendor keyword
//! `BARESERVE.etag` (pax reserves `VENDOR.keyword` for vendors) and, when the name does not fit the
//! ustar `name`/`prefix` fields or is not ASCII, the `path` record. The archive ends with two zero
//! blocks.
//!
//! Determinism: the same tree gives the same bytes. Entries are sorted by path (byte order); uid
//! and gid are 0, uname and gname empty, every file has mode 0644; only regular files are stored
//! (directories are implied by the paths). The modification time is the file's own, clamped to
//! `SOURCE_DATE_EPOCH` when that is set (<https://reproducible-builds.org/specs/source-date-epoch/>):
//! a git checkout sets every mtime to the checkout time, so the clamp makes two checkouts of the
//! same commit pack to the same bytes, while an unset variable keeps real mtimes for
//! `Last-Modified` during development.
//!
//! Refused, with an error naming the file: symbolic links, devices, FIFOs, sockets, names that are
//! not UTF-8 or contain control characters, unsafe paths (`..`, absolute, empty components) and
//! files too large for ustar's 11 octal digits (8 GiB − 1). Hard links are accepted: each link is
//! packed as an independent regular file with the same content, which is what a reader sees anyway.
//!
//! Left out by default, so that a site folder kept in git or edited in place never publishes
//! `.git/`, `.env`, `.htpasswd`, `.DS_Store` or an editor's swap file: every file or directory
//! whose name starts with `.` (a directory with all it holds), and editor backups whose name ends
//! in `~` or is `#…#` (Emacs autosave). The one exception is `.well-known/` at the site root (RFC
//! 8615: ACME challenges, `security.txt`), packed with its contents but for hidden names inside it.
//! What was left out is listed in [`PackedSite::left_out`] (the build prints it);
//! [`PackOptions::include_hidden`] (`SITE_HIDDEN=include`) packs everything.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

// The path and ETag rules live in the server's source, so the packer and the reader share them.
#[path = "../../../src/site/rules.rs"]
mod site_rules;
pub use site_rules::{PathProblem, is_strong_etag};

/// Size of a tar block (POSIX ustar: "a series of 512-byte blocks").
pub const BLOCK_BYTES: usize = 512;

/// Largest size ustar's 12-byte octal `size` field can hold (11 octal digits): 8 GiB − 1.
pub const USTAR_SIZE_MAX_BYTES: u64 = 0o777_7777_7777;

/// The pax vendor keyword under which each file's strong ETag is stored.
pub const ETAG_PAX_KEYWORD: &str = "BARESERVE.etag";

/// Extensions of files that get a precompressed `.gz` sibling (text formats that compress well).
pub const GZIP_EXTENSIONS: &[&str] = &[
    "html",
    "htm",
    "css",
    "js",
    "mjs",
    "json",
    "svg",
    "txt",
    "xml",
    "md",
    "csv",
    "map",
    "webmanifest",
];

/// How to pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOptions {
    /// Upper bound for every stored modification time (seconds since the Unix epoch), from
    /// `SOURCE_DATE_EPOCH`; `None` keeps the files' own mtimes.
    pub source_date_epoch_s: Option<u64>,
    /// Add a gzip-compressed `NAME.gz` sibling for each compressible file that has none, when the
    /// compressed form is smaller.
    pub gzip_siblings: bool,
    /// Pack hidden files and editor backups too (see the crate documentation), from
    /// `SITE_HIDDEN=include`; by default they are left out.
    pub include_hidden: bool,
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            source_date_epoch_s: None,
            gzip_siblings: true,
            include_hidden: false,
        }
    }
}

impl PackOptions {
    /// Reads the options from environment variables through `lookup` (so tests need not touch the
    /// process environment): `SOURCE_DATE_EPOCH` (decimal seconds), `SITE_GZIP` (`0` disables
    /// the `.gz` siblings; `1` or unset enables them) and `SITE_HIDDEN` (`include` packs hidden
    /// files; `exclude` or unset leaves them out).
    pub fn from_environment(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<PackOptions, PackError> {
        let source_date_epoch_s = match lookup("SOURCE_DATE_EPOCH") {
            None => None,
            Some(value) if value.trim().is_empty() => None,
            Some(value) => {
                Some(
                    value
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| PackError::BadEnvironment {
                            variable: "SOURCE_DATE_EPOCH",
                            value: value.clone(),
                        })?,
                )
            }
        };
        let gzip_siblings = switch(&lookup, "SITE_GZIP", ("1", "0"), true)?;
        let include_hidden = switch(&lookup, "SITE_HIDDEN", ("include", "exclude"), false)?;
        Ok(PackOptions {
            source_date_epoch_s,
            gzip_siblings,
            include_hidden,
        })
    }
}

/// An on/off environment variable: `words.0` is on, `words.1` off, unset or empty `default`;
/// anything else is an error naming the variable.
fn switch(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    words: (&str, &str),
    default: bool,
) -> Result<bool, PackError> {
    match lookup(variable).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(word) if word == words.0 => Ok(true),
        Some(word) if word == words.1 => Ok(false),
        Some(other) => Err(PackError::BadEnvironment {
            variable,
            value: other.to_string(),
        }),
    }
}

/// One file as stored in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedFile {
    /// Path inside the site, `/`-separated, no leading slash.
    pub path: String,
    /// Content length in bytes.
    pub size_bytes: u64,
    /// Stored modification time, seconds since the Unix epoch.
    pub modified_unix_s: u64,
    /// The strong ETag, with its double quotes.
    pub etag: String,
    /// Whether the packer generated this file (a `.gz` sibling) rather than reading it.
    pub generated: bool,
}

/// The result of [`pack_directory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedSite {
    /// The complete archive.
    pub archive: Vec<u8>,
    /// The files stored, in archive order.
    pub files: Vec<PackedFile>,
    /// The root, every subdirectory and every file read: what a build script must watch.
    pub watched_paths: Vec<PathBuf>,
    /// Hidden files and directories left out (see the crate documentation), in path order.
    pub left_out: Vec<LeftOut>,
}

/// A file or directory that was not packed because it is hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// Its path inside the site, `/`-separated, with a trailing `/` for a directory.
    pub path: String,
    /// The regular files it holds (1 for a file).
    pub file_count: u64,
}

/// Whether `name` (one path component) is hidden: a dotfile or dot-directory, or an editor backup
/// (`name~`, `#name#`). `.well-known` directly below the site root is not (RFC 8615 §3).
pub fn is_hidden_name(name: &str, at_site_root: bool) -> bool {
    if at_site_root && name == ".well-known" {
        return false;
    }
    name.starts_with('.')
        || name.ends_with('~')
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
}

/// The regular files below `path` (1 if it is a file; unreadable parts count as none).
fn count_files(path: &Path) -> u64 {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => fs::read_dir(path).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| count_files(&entry.path()))
                .sum()
        }),
        Ok(_) => 1,
        Err(_) => 0,
    }
}

/// Why packing failed. Every variant names the file concerned.
#[derive(Debug)]
pub enum PackError {
    /// Reading the file or directory failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The site root is not a directory.
    NotADirectory {
        /// The root given.
        path: PathBuf,
    },
    /// A name is not valid UTF-8.
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A path that must not be stored.
    UnsafePath {
        /// The path inside the site (or the file system path when it is not UTF-8).
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// A symbolic link, device, FIFO or socket.
    UnsupportedFileType {
        /// The file.
        path: PathBuf,
        /// What it is (`symbolic link`, `FIFO`, …).
        kind: &'static str,
    },
    /// Larger than ustar's size field allows.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size_bytes: u64,
    },
    /// An environment variable has a value that cannot be used.
    BadEnvironment {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// An ETag given to [`ArchiveBuilder::append_file`] is not a strong entity-tag.
    BadEtag {
        /// The path it was given for.
        path: String,
        /// The value.
        etag: String,
    },
}

impl fmt::Display for PackError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackError::Io { path, source } => {
                write!(formatter, "cannot read {}: {source}", path.display())
            }
            PackError::NotADirectory { path } => {
                write!(formatter, "site root {} is not a directory", path.display())
            }
            PackError::NotUtf8 { path } => write!(
                formatter,
                "{}: file name is not valid UTF-8",
                path.display()
            ),
            PackError::UnsafePath { path, problem } => {
                write!(formatter, "{path:?}: {problem}")
            }
            PackError::UnsupportedFileType { path, kind } => write!(
                formatter,
                "{}: is a {kind}; the site may hold only regular files and directories",
                path.display()
            ),
            PackError::TooLarge { path, size_bytes } => write!(
                formatter,
                "{}: {size_bytes} bytes is more than the ustar limit of {USTAR_SIZE_MAX_BYTES}",
                path.display()
            ),
            PackError::BadEnvironment { variable, value } => {
                write!(
                    formatter,
                    "environment variable {variable}={value:?} is not valid"
                )
            }
            PackError::BadEtag { path, etag } => {
                write!(formatter, "{path:?}: {etag:?} is not a strong entity-tag")
            }
        }
    }
}

impl std::error::Error for PackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PackError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Checks that `path` (relative, `/`-separated) is safe to store and to serve: the reader's
/// own rules (`src/site/rules.rs`).
pub fn validate_site_path(path: &str) -> Result<(), PathProblem> {
    site_rules::check_path(path)
}

/// The strong ETag of `content` (RFC 9110 §8.8.3): the first 64 bits of its SHA-256
/// (FIPS 180-4) as 16 lowercase hex digits, in double quotes. Content-based, so a rebuild of the
/// same content keeps the tag and caches stay valid.
pub fn etag_for_content(content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let mut etag = String::with_capacity(18);
    etag.push('"');
    for byte in digest.iter().take(8) {
        etag.push_str(&format!("{byte:02x}"));
    }
    etag.push('"');
    etag
}

/// Writes a pax archive in memory, one regular file at a time. [`pack_directory`] uses it; so
/// can tests that need an archive without a directory.
#[derive(Debug, Default, Clone)]
pub struct ArchiveBuilder {
    bytes: Vec<u8>,
}

impl ArchiveBuilder {
    /// An empty archive.
    pub fn new() -> ArchiveBuilder {
        ArchiveBuilder::default()
    }

    /// Appends a regular file: a pax extended header (ETag, and `path` when needed), the ustar
    /// header and the content padded to whole blocks.
    pub fn append_file(
        &mut self,
        path: &str,
        modified_unix_s: u64,
        content: &[u8],
        etag: &str,
    ) -> Result<(), PackError> {
        validate_site_path(path).map_err(|problem| PackError::UnsafePath {
            path: path.to_string(),
            problem,
        })?;
        if !is_strong_etag(etag) {
            return Err(PackError::BadEtag {
                path: path.to_string(),
                etag: etag.to_string(),
            });
        }
        let size_bytes = content.len() as u64;
        if size_bytes > USTAR_SIZE_MAX_BYTES {
            return Err(PackError::TooLarge {
                path: PathBuf::from(path),
                size_bytes,
            });
        }

        // POSIX ustar: the name fields hold the portable filename character set; a name outside
        // it, or too long for prefix + name, goes in the pax `path` record (UTF-8), and the ustar
        // fields then hold a truncated fallback for readers that do not know pax.
        let ustar_split = if path.is_ascii() {
            split_ustar_path(path)
        } else {
            None
        };
        let mut records = Vec::new();
        if ustar_split.is_none() {
            records.extend(pax_record("path", path));
        }
        // The 11 octal digits of ustar's mtime last until the year 2242; past that, pax `mtime`.
        if modified_unix_s > USTAR_SIZE_MAX_BYTES {
            records.extend(pax_record("mtime", &modified_unix_s.to_string()));
        }
        records.extend(pax_record(ETAG_PAX_KEYWORD, etag));

        let base_name = path.rsplit('/').next().unwrap_or(path);
        let ustar_mtime_s = modified_unix_s.min(USTAR_SIZE_MAX_BYTES);
        let extended_name = format!("PaxHeaders/{base_name}");
        let extended_name = truncate_to_char_boundary(&extended_name, 100);
        self.push_header(&HeaderFields {
            name: extended_name.as_bytes(),
            prefix: b"",
            size_bytes: records.len() as u64,
            modified_unix_s: ustar_mtime_s,
            typeflag: b'x',
        });
        self.push_content(&records);

        let (prefix, name) = match ustar_split {
            Some(split) => split,
            None => ("", truncate_to_char_boundary(base_name, 100)),
        };
        self.push_header(&HeaderFields {
            name: name.as_bytes(),
            prefix: prefix.as_bytes(),
            size_bytes,
            modified_unix_s: ustar_mtime_s,
            typeflag: b'0',
        });
        self.push_content(content);
        Ok(())
    }

    /// Ends the archive with two zero blocks (POSIX ustar: "two consecutive 512-byte blocks of
    /// zero bytes") and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.resize(self.bytes.len() + 2 * BLOCK_BYTES, 0);
        self.bytes
    }

    fn push_header(&mut self, fields: &HeaderFields<'_>) {
        self.bytes.extend_from_slice(&ustar_header(fields));
    }

    fn push_content(&mut self, content: &[u8]) {
        self.bytes.extend_from_slice(content);
        let padding = (BLOCK_BYTES - content.len() % BLOCK_BYTES) % BLOCK_BYTES;
        self.bytes.resize(self.bytes.len() + padding, 0);
    }
}

/// The fields of one ustar header that vary here; the rest are fixed for determinism.
struct HeaderFields<'a> {
    name: &'a [u8],
    prefix: &'a [u8],
    size_bytes: u64,
    modified_unix_s: u64,
    typeflag: u8,
}

/// One ustar header block (POSIX.1-2017 XCU pax, "ustar Interchange Format", Table: ustar Header
/// Block). Numeric fields are zero-padded octal terminated by NUL.
fn ustar_header(fields: &HeaderFields<'_>) -> [u8; BLOCK_BYTES] {
    let mut header = [0u8; BLOCK_BYTES];
    put(&mut header, 0, 100, fields.name);
    put(&mut header, 100, 8, b"0000644\0"); // mode
    put(&mut header, 108, 8, b"0000000\0"); // uid
    put(&mut header, 116, 8, b"0000000\0"); // gid
    put(
        &mut header,
        124,
        12,
        format!("{:011o}\0", fields.size_bytes).as_bytes(),
    );
    put(
        &mut header,
        136,
        12,
        format!("{:011o}\0", fields.modified_unix_s).as_bytes(),
    );
    put(&mut header, 148, 8, b"        "); // chksum: spaces while summing
    header[156] = fields.typeflag;
    // linkname (157..257) stays NUL.
    put(&mut header, 257, 6, b"ustar\0"); // magic
    put(&mut header, 263, 2, b"00"); // version
    // uname (265..297) and gname (297..329) stay empty.
    put(&mut header, 329, 8, b"0000000\0"); // devmajor
    put(&mut header, 337, 8, b"0000000\0"); // devminor
    put(&mut header, 345, 155, fields.prefix);
    // "the simple sum of all bytes in the header block ... treating the chksum field as spaces":
    // six octal digits, NUL, space — the layout GNU tar and the POSIX reference use.
    let checksum: u32 = header.iter().map(|&byte| u32::from(byte)).sum();
    put(&mut header, 148, 8, format!("{checksum:06o}\0 ").as_bytes());
    header
}

/// Copies `value` into `header[offset..offset + width]`; callers guarantee it fits.
fn put(header: &mut [u8; BLOCK_BYTES], offset: usize, width: usize, value: &[u8]) {
    let length = value.len().min(width);
    header[offset..offset + length].copy_from_slice(&value[..length]);
}

/// Splits `path` into ustar (`prefix`, `name`) — `name` at most 100 bytes, `prefix` at most 155,
/// joined by a `/` that is not stored — or `None` when no split fits.
fn split_ustar_path(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    path.match_indices('/')
        .map(|(slash, _)| (&path[..slash], &path[slash + 1..]))
        .find(|(prefix, name)| name.len() <= 100 && prefix.len() <= 155 && !name.is_empty())
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character boundary.
fn truncate_to_char_boundary(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One pax record, `"%d %s=%s\n"`, where the decimal length counts the whole record including its
/// own digits (POSIX.1-2017 XCU pax, "pax Extended Header").
fn pax_record(keyword: &str, value: &str) -> Vec<u8> {
    let body_bytes = 1 + keyword.len() + 1 + value.len() + 1; // " " keyword "=" value "\n"
    let mut total_bytes = body_bytes + 1;
    while total_bytes != body_bytes + total_bytes.to_string().len() {
        total_bytes = body_bytes + total_bytes.to_string().len();
    }
    format!("{total_bytes} {keyword}={value}\n").into_bytes()
}

/// One file found while walking the site.
struct FoundFile {
    site_path: String,
    modified_unix_s: u64,
    content: Vec<u8>,
    generated: bool,
}

/// Packs every regular file below `root` into an archive (see the crate documentation for the
/// format and for what is refused).
pub fn pack_directory(root: &Path, options: &PackOptions) -> Result<PackedSite, PackError> {
    let root_metadata = fs::metadata(root).map_err(|source| PackError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    if !root_metadata.is_dir() {
        return Err(PackError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    let mut found = Vec::new();
    let mut watched_paths = vec![root.to_path_buf()];
    let mut left_out = Vec::new();
    let mut walk_state = Walk {
        options,
        found: &mut found,
        watched_paths: &mut watched_paths,
        left_out: &mut left_out,
    };
    walk_state.directory(root, "")?;

    if options.gzip_siblings {
        let existing: BTreeSet<String> = found.iter().map(|file| file.site_path.clone()).collect();
        let mut siblings = Vec::new();
        for file in &found {
            let sibling_path = format!("{}.gz", file.site_path);
            if is_compressible(&file.site_path) && !existing.contains(&sibling_path) {
                let compressed = gzip(&file.content).map_err(|source| PackError::Io {
                    path: root.join(&file.site_path),
                    source,
                })?;
                if compressed.len() < file.content.len() {
                    siblings.push(FoundFile {
                        site_path: sibling_path,
                        modified_unix_s: file.modified_unix_s,
                        content: compressed,
                        generated: true,
                    });
                }
            }
        }
        found.extend(siblings);
    }

    found.sort_by(|left, right| left.site_path.as_bytes().cmp(right.site_path.as_bytes()));
    let mut builder = ArchiveBuilder::new();
    let mut files = Vec::with_capacity(found.len());
    for file in &found {
        let etag = etag_for_content(&file.content);
        builder.append_file(&file.site_path, file.modified_unix_s, &file.content, &etag)?;
        files.push(PackedFile {
            path: file.site_path.clone(),
            size_bytes: file.content.len() as u64,
            modified_unix_s: file.modified_unix_s,
            etag,
            generated: file.generated,
        });
    }
    watched_paths.sort();
    Ok(PackedSite {
        archive: builder.finish(),
        files,
        watched_paths,
        left_out,
    })
}

/// Whether a `.gz` sibling is worth trying for `site_path`, by extension.
fn is_compressible(site_path: &str) -> bool {
    site_path.rsplit_once('.').is_some_and(|(_, extension)| {
        GZIP_EXTENSIONS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(extension))
    })
}

/// Gzip (RFC 1952) at the best level with a fixed header: mtime 0, no file name, OS 255
/// (unknown), so the bytes depend only on the content and the flate2/miniz_oxide version pinned by
/// Cargo.lock.
fn gzip(content: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(content)?;
    encoder.finish()
}

/// What the directory walk collects.
struct Walk<'a> {
    options: &'a PackOptions,
    found: &'a mut Vec<FoundFile>,
    watched_paths: &'a mut Vec<PathBuf>,
    left_out: &'a mut Vec<LeftOut>,
}

impl Walk<'_> {
    /// Collects the regular files below `directory` (whose site path is `site_prefix`).
    fn directory(&mut self, directory: &Path, site_prefix: &str) -> Result<(), PackError> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PackError::Io { path, source }
        };
        let mut children = Vec::new();
        for entry in fs::read_dir(directory).map_err(io_error(directory))? {
            let entry = entry.map_err(io_error(directory))?;
            children.push(entry.path());
        }
        children.sort();
        for child in children {
            let Some(name) = child.file_name().and_then(|name| name.to_str()) else {
                return Err(PackError::NotUtf8 { path: child });
            };
            let site_path = if site_prefix.is_empty() {
                name.to_string()
            } else {
                format!("{site_prefix}/{name}")
            };
            if !self.options.include_hidden && is_hidden_name(name, site_prefix.is_empty()) {
                let is_directory =
                    fs::symlink_metadata(&child).is_ok_and(|metadata| metadata.is_dir());
                self.left_out.push(LeftOut {
                    path: if is_directory {
                        format!("{site_path}/")
                    } else {
                        site_path
                    },
                    file_count: count_files(&child),
                });
                continue;
            }
            validate_site_path(&site_path).map_err(|problem| PackError::UnsafePath {
                path: site_path.clone(),
                problem,
            })?;
            // symlink_metadata: a symbolic link is refused, not followed.
            let metadata = fs::symlink_metadata(&child).map_err(io_error(&child))?;
            let file_type = metadata.file_type();
            if file_type.is_dir() {
                self.watched_paths.push(child.clone());
                self.directory(&child, &site_path)?;
            } else if file_type.is_file() {
                self.watched_paths.push(child.clone());
                if metadata.len() > USTAR_SIZE_MAX_BYTES {
                    return Err(PackError::TooLarge {
                        path: child,
                        size_bytes: metadata.len(),
                    });
                }
                let content = fs::read(&child).map_err(io_error(&child))?;
                let modified_unix_s = metadata
                    .modified()
                    .ok()
                    .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |duration| duration.as_secs());
                let modified_unix_s = match self.options.source_date_epoch_s {
                    Some(epoch_s) => modified_unix_s.min(epoch_s),
                    None => modified_unix_s,
                };
                self.found.push(FoundFile {
                    site_path,
                    modified_unix_s,
                    content,
                    generated: false,
                });
            } else {
                return Err(PackError::UnsupportedFileType {
                    path: child,
                    kind: describe_file_type(&file_type),
                });
            }
        }
        Ok(())
    }
}

/// A name for a file type that is neither a regular file nor a directory.
#[cfg(unix)]
fn describe_file_type(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if file_type.is_symlink() {
        "symbolic link"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "special file"
    }
}

/// A name for a file type that is neither a regular file nor a directory.
#[cfg(not(unix))]
fn describe_file_type(file_type: &fs::FileType) -> &'static str {
    if file_type.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    /// A fresh, empty directory unique to this test process and `name`.
    struct TempDirectory(PathBuf);

    impl TempDirectory {
        fn new(name: &str) -> TempDirectory {
            let path =
                std::env::temp_dir().join(format!("sitepack-test-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDirectory(path)
        }

        fn write(&self, relative: &str, content: &[u8], modified_unix_s: u64) -> PathBuf {
            let path = self.0.join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, content).unwrap();
            set_mtime(&path, modified_unix_s);
            path
        }
    }

    impl Drop for TempDirectory {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn set_mtime(path: &Path, modified_unix_s: u64) {
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(modified_unix_s))
            .unwrap();
    }

    const NO_GZIP: PackOptions = PackOptions {
        source_date_epoch_s: None,
        gzip_siblings: false,
        include_hidden: false,
    };

    /// A site kept in git and edited in place: what must not be published, and `.well-known/`.
    fn site_with_hidden_files(name: &str) -> TempDirectory {
        let site = TempDirectory::new(name);
        site.write("index.html", b"<p>hi</p>", 1);
        site.write(".env", b"SECRET=1", 1);
        site.write(".DS_Store", b"\0", 1);
        site.write(".git/config", b"[core]", 1);
        site.write(".git/objects/ab/cdef", b"x", 1);
        site.write("docs/.htpasswd", b"admin:x", 1);
        site.write("docs/.index.html.swp", b"swap", 1);
        site.write("docs/index.html~", b"old", 1);
        site.write("docs/#index.html#", b"autosave", 1);
        site.write("docs/index.html", b"<p>docs</p>", 1);
        site.write(".well-known/security.txt", b"Contact: x", 1);
        site.write(".well-known/acme-challenge/token", b"token", 1);
        site.write(".well-known/.git/HEAD", b"ref", 1);
        site.write("docs/.well-known/x", b"not at the root", 1);
        site
    }

    fn packed_paths(site: &PackedSite) -> Vec<&str> {
        site.files.iter().map(|file| file.path.as_str()).collect()
    }

    #[test]
    fn hidden_files_and_editor_backups_are_left_out_and_listed_but_well_known_is_packed() {
        let site = site_with_hidden_files("hidden-default");
        let packed = pack_directory(&site.0, &NO_GZIP).unwrap();
        assert_eq!(
            packed_paths(&packed),
            [
                ".well-known/acme-challenge/token",
                ".well-known/security.txt",
                "docs/index.html",
                "index.html",
            ]
        );
        let left_out: Vec<(&str, u64)> = packed
            .left_out
            .iter()
            .map(|entry| (entry.path.as_str(), entry.file_count))
            .collect();
        assert_eq!(
            left_out,
            [
                (".DS_Store", 1),
                (".env", 1),
                (".git/", 2),
                (".well-known/.git/", 1),
                ("docs/#index.html#", 1),
                ("docs/.htpasswd", 1),
                ("docs/.index.html.swp", 1),
                ("docs/.well-known/", 1),
                ("docs/index.html~", 1),
            ]
        );
    }

    #[test]
    fn site_hidden_include_packs_everything() {
        let site = site_with_hidden_files("hidden-include");
        let options = PackOptions {
            include_hidden: true,
            ..NO_GZIP
        };
        let packed = pack_directory(&site.0, &options).unwrap();
        assert!(packed.left_out.is_empty());
        let paths = packed_paths(&packed);
        for expected in [
            ".env",
            ".git/config",
            ".git/objects/ab/cdef",
            "docs/.htpasswd",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
        assert_eq!(paths.len(), 14);
    }

    #[test]
    fn site_hidden_is_read_from_the_environment() {
        let lookup = |value: &'static str| {
            move |name: &str| (name == "SITE_HIDDEN").then(|| value.to_string())
        };
        assert!(
            PackOptions::from_environment(lookup("include"))
                .unwrap()
                .include_hidden
        );
        assert!(
            !PackOptions::from_environment(lookup("exclude"))
                .unwrap()
                .include_hidden
        );
        assert!(
            !PackOptions::from_environment(|_| None)
                .unwrap()
                .include_hidden
        );
        assert!(matches!(
            PackOptions::from_environment(lookup("yes")),
            Err(PackError::BadEnvironment {
                variable: "SITE_HIDDEN",
                ..
            })
        ));
    }

    /// The header blocks of `archive`, with their offsets, walking sizes (no validation).
    fn headers(archive: &[u8]) -> Vec<(usize, [u8; BLOCK_BYTES])> {
        let mut result = Vec::new();
        let mut offset = 0;
        while offset + BLOCK_BYTES <= archive.len() {
            let block: [u8; BLOCK_BYTES] =
                archive[offset..offset + BLOCK_BYTES].try_into().unwrap();
            if block.iter().all(|&byte| byte == 0) {
                break;
            }
            let size_text = std::str::from_utf8(&block[124..135]).unwrap();
            let size = usize::from_str_radix(size_text, 8).unwrap();
            result.push((offset, block));
            offset += BLOCK_BYTES + size.div_ceil(BLOCK_BYTES) * BLOCK_BYTES;
        }
        result
    }

    fn field(block: &[u8; BLOCK_BYTES], start: usize, length: usize) -> &[u8] {
        &block[start..start + length]
    }

    fn pax_data<'a>(archive: &'a [u8], offset: usize, block: &[u8; BLOCK_BYTES]) -> &'a [u8] {
        let size =
            usize::from_str_radix(std::str::from_utf8(&block[124..135]).unwrap(), 8).unwrap();
        &archive[offset + BLOCK_BYTES..offset + BLOCK_BYTES + size]
    }

    #[test]
    fn pax_record_length_counts_its_own_digits() {
        assert_eq!(pax_record("path", "a"), b"9 path=a\n");
        // Body of 98 bytes: two digits would make 100, which needs three: 101.
        let value = "v".repeat(91);
        let record = pax_record("path", &value);
        assert_eq!(record.len(), 101);
        assert!(record.starts_with(b"101 path=v"));
        let record = pax_record("x", &"v".repeat(3));
        assert_eq!(record, b"8 x=vvv\n");
        assert_eq!(pax_record("x", "vvvv"), b"9 x=vvvv\n");
        // 9-byte body: 9 + 1 = 10 needs two digits → 11.
        assert_eq!(pax_record("x", "vvvvv"), b"11 x=vvvvv\n");
    }

    #[test]
    fn single_file_archive_has_exact_header_fields() {
        let mut builder = ArchiveBuilder::new();
        builder
            .append_file(
                "index.html",
                1_700_000_000,
                b"hello",
                "\"0123456789abcdef\"",
            )
            .unwrap();
        let archive = builder.finish();
        // pax header + its data block, file header + data block, two zero blocks.
        assert_eq!(archive.len(), 6 * BLOCK_BYTES);
        let blocks = headers(&archive);
        assert_eq!(blocks.len(), 2);
        let (pax_offset, pax) = &blocks[0];
        assert_eq!(*pax_offset, 0);
        assert_eq!(pax[156], b'x');
        assert_eq!(field(pax, 0, 21), b"PaxHeaders/index.html");
        assert_eq!(
            pax_data(&archive, 0, pax),
            b"37 BARESERVE.etag=\"0123456789abcdef\"\n"
        );
        let (file_offset, file) = &blocks[1];
        assert_eq!(*file_offset, 2 * BLOCK_BYTES);
        assert_eq!(field(file, 0, 11), b"index.html\0");
        assert_eq!(field(file, 100, 8), b"0000644\0");
        assert_eq!(field(file, 108, 8), b"0000000\0");
        assert_eq!(field(file, 116, 8), b"0000000\0");
        assert_eq!(field(file, 124, 12), b"00000000005\0");
        assert_eq!(
            field(file, 136, 12),
            format!("{:011o}\0", 1_700_000_000).as_bytes()
        );
        assert_eq!(file[156], b'0');
        assert_eq!(field(file, 257, 8), b"ustar\x0000");
        assert!(field(file, 265, 64).iter().all(|&byte| byte == 0)); // uname, gname
        assert_eq!(&archive[3 * BLOCK_BYTES..3 * BLOCK_BYTES + 6], b"hello\0");
        assert!(archive[4 * BLOCK_BYTES..].iter().all(|&byte| byte == 0));
    }

    #[test]
    fn every_header_checksum_is_the_unsigned_sum() {
        let mut builder = ArchiveBuilder::new();
        builder.append_file("a.txt", 1, b"abc", "\"1\"").unwrap();
        builder
            .append_file("ünï/çødé.html", 2, &[0xffu8; 700], "\"2\"")
            .unwrap();
        let archive = builder.finish();
        let blocks = headers(&archive);
        assert_eq!(blocks.len(), 4);
        for (offset, block) in blocks {
            let stored =
                u32::from_str_radix(std::str::from_utf8(&block[148..154]).unwrap(), 8).unwrap();
            assert_eq!(&block[154..156], b"\0 ", "at {offset}");
            let mut summed = block;
            summed[148..156].copy_from_slice(b"        ");
            let computed: u32 = summed.iter().map(|&byte| u32::from(byte)).sum();
            assert_eq!(stored, computed, "header at {offset}");
        }
    }

    #[test]
    fn long_and_utf8_names_use_prefix_or_pax_path() {
        let mut builder = ArchiveBuilder::new();
        let prefixed = format!("{}/{}", "d".repeat(120), "f".repeat(90)); // 211 bytes, splits
        let too_long = format!("{}/{}", "d".repeat(200), "f".repeat(90)); // prefix > 155
        let utf8 = "über/файл.html";
        for path in [prefixed.as_str(), too_long.as_str(), utf8] {
            builder.append_file(path, 0, b"x", "\"e\"").unwrap();
        }
        let archive = builder.finish();
        let blocks = headers(&archive);
        assert_eq!(blocks.len(), 6);

        // Fits ustar: name and prefix, no pax path.
        let (offset, pax) = &blocks[0];
        assert!(
            !pax_data(&archive, *offset, pax)
                .windows(5)
                .any(|w| w == b"path=")
        );
        let file = &blocks[1].1;
        assert_eq!(&file[0..90], "f".repeat(90).as_bytes());
        assert_eq!(file[90], 0);
        assert_eq!(&file[345..465], "d".repeat(120).as_bytes());

        for (index, path) in [(2, too_long.as_str()), (4, utf8)] {
            let (offset, pax) = &blocks[index];
            let data = pax_data(&archive, *offset, pax);
            let expected = pax_record("path", path);
            assert_eq!(&data[..expected.len()], expected.as_slice(), "{path}");
            // The ustar fallback is the base name; the prefix stays empty.
            let file = &blocks[index + 1].1;
            let base = path.rsplit('/').next().unwrap();
            assert_eq!(&file[..base.len()], base.as_bytes());
            assert!(file[345..500].iter().all(|&byte| byte == 0));
        }
    }

    #[test]
    fn split_ustar_path_boundaries() {
        let name_100 = "n".repeat(100);
        assert_eq!(split_ustar_path(&name_100), Some(("", name_100.as_str())));
        let name_101 = "n".repeat(101);
        assert_eq!(split_ustar_path(&name_101), None);
        let prefix_155 = format!("{}/{}", "p".repeat(155), "n".repeat(100));
        assert_eq!(
            split_ustar_path(&prefix_155),
            Some((&prefix_155[..155], &prefix_155[156..]))
        );
        let prefix_156 = format!("{}/{}", "p".repeat(156), "n".repeat(10));
        assert_eq!(split_ustar_path(&prefix_156), None);
    }

    #[test]
    fn append_file_refuses_bad_paths_and_etags() {
        let mut builder = ArchiveBuilder::new();
        assert!(matches!(
            builder.append_file("../x", 0, b"", "\"e\""),
            Err(PackError::UnsafePath {
                problem: PathProblem::ParentComponent,
                ..
            })
        ));
        for etag in ["e", "W/\"e\"", "\"a b\"", "\"a\"b\"", "\"", "\"é\""] {
            assert!(
                matches!(
                    builder.append_file("x", 0, b"", etag),
                    Err(PackError::BadEtag { .. })
                ),
                "{etag}"
            );
        }
    }

    #[test]
    fn validate_site_path_table() {
        let cases: &[(&str, Result<(), PathProblem>)] = &[
            ("index.html", Ok(())),
            ("docs/a b/ü.html", Ok(())),
            (".well-known/security.txt", Ok(())),
            ("", Err(PathProblem::Empty)),
            ("/etc/passwd", Err(PathProblem::Absolute)),
            ("a/../b", Err(PathProblem::ParentComponent)),
            ("..", Err(PathProblem::ParentComponent)),
            ("a//b", Err(PathProblem::EmptyOrDotComponent)),
            ("./a", Err(PathProblem::EmptyOrDotComponent)),
            ("a/", Err(PathProblem::EmptyOrDotComponent)),
            ("a\0b", Err(PathProblem::Nul)),
            ("a\nb", Err(PathProblem::ControlCharacter)),
            ("a\x7fb", Err(PathProblem::ControlCharacter)),
            ("a\\b", Err(PathProblem::Backslash)),
        ];
        for (path, expected) in cases {
            assert_eq!(validate_site_path(path), *expected, "{path:?}");
        }
    }

    #[test]
    fn etag_is_the_first_64_bits_of_sha256() {
        // SHA-256("") = e3b0c44298fc1c14…, SHA-256("abc") = ba7816bf8f01cfea… (FIPS 180-4 examples).
        assert_eq!(etag_for_content(b""), "\"e3b0c44298fc1c14\"");
        assert_eq!(etag_for_content(b"abc"), "\"ba7816bf8f01cfea\"");
    }

    #[test]
    fn pack_directory_sorts_by_bytes_and_reports_files() {
        let site = TempDirectory::new("sorted");
        for path in ["b.txt", "a/z.txt", "a.txt", "B.txt", "a-b/c.txt"] {
            site.write(path, path.as_bytes(), 1_000);
        }
        let packed = pack_directory(&site.0, &NO_GZIP).unwrap();
        let paths: Vec<&str> = packed.files.iter().map(|file| file.path.as_str()).collect();
        assert_eq!(paths, ["B.txt", "a-b/c.txt", "a.txt", "a/z.txt", "b.txt"]);
        let file = &packed.files[2];
        assert_eq!(file.size_bytes, 5);
        assert_eq!(file.modified_unix_s, 1_000);
        assert_eq!(file.etag, etag_for_content(b"a.txt"));
        assert!(!file.generated);
        let mut expected_watched = vec![
            site.0.clone(),
            site.0.join("B.txt"),
            site.0.join("a"),
            site.0.join("a/z.txt"),
            site.0.join("a-b"),
            site.0.join("a-b/c.txt"),
            site.0.join("a.txt"),
            site.0.join("b.txt"),
        ];
        expected_watched.sort();
        assert_eq!(packed.watched_paths, expected_watched);
    }

    #[test]
    fn packing_is_deterministic_and_clamps_mtimes() {
        let site = TempDirectory::new("determinism");
        site.write("index.html", &b"<p>hello</p>".repeat(50), 2_000_000_000);
        let old = site.write("old.txt", b"old", 1_000_000_000);
        let options = PackOptions {
            source_date_epoch_s: Some(1_700_000_000),
            gzip_siblings: true,
            include_hidden: false,
        };
        let first = pack_directory(&site.0, &options).unwrap();
        let second = pack_directory(&site.0, &options).unwrap();
        assert_eq!(first.archive, second.archive);
        let mtimes: Vec<(&str, u64)> = first
            .files
            .iter()
            .map(|file| (file.path.as_str(), file.modified_unix_s))
            .collect();
        assert_eq!(
            mtimes,
            [
                ("index.html", 1_700_000_000),
                ("index.html.gz", 1_700_000_000),
                ("old.txt", 1_000_000_000)
            ]
        );
        // A fresh checkout moves mtimes forward; the clamp keeps the bytes.
        set_mtime(&site.0.join("index.html"), 2_100_000_000);
        let third = pack_directory(&site.0, &options).unwrap();
        assert_eq!(first.archive, third.archive);
        // But the mtime is real data below the clamp.
        set_mtime(&old, 1_000_000_001);
        let fourth = pack_directory(&site.0, &options).unwrap();
        assert_ne!(first.archive, fourth.archive);
    }

    #[test]
    fn gzip_siblings_are_deterministic_smaller_and_optional() {
        let site = TempDirectory::new("gzip");
        site.write("style.css", &b"body { margin: 0 }\n".repeat(40), 5);
        site.write("tiny.txt", b"hi", 5);
        site.write("logo.png", &[0u8; 4096], 5);
        site.write("pre.js", &b"let x = 1;\n".repeat(40), 5);
        site.write("pre.js.gz", b"not really gzip", 5);
        let packed = pack_directory(&site.0, &PackOptions::default()).unwrap();
        let paths: Vec<(&str, bool)> = packed
            .files
            .iter()
            .map(|file| (file.path.as_str(), file.generated))
            .collect();
        assert_eq!(
            paths,
            [
                ("logo.png", false),
                ("pre.js", false),
                ("pre.js.gz", false),
                ("style.css", false),
                ("style.css.gz", true),
                ("tiny.txt", false),
            ]
        );
        let compressed = gzip(&b"body { margin: 0 }\n".repeat(40)).unwrap();
        // RFC 1952 §2.3: ID1 ID2 CM=8 FLG=0, MTIME=0, XFL=2 (best), OS=255.
        assert_eq!(&compressed[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
        assert_eq!(packed.files[4].etag, etag_for_content(&compressed));
        assert_eq!(packed.files[4].size_bytes, compressed.len() as u64);

        let plain = pack_directory(&site.0, &NO_GZIP).unwrap();
        assert_eq!(plain.files.len(), 5);
        assert!(plain.files.iter().all(|file| !file.generated));
    }

    #[test]
    fn options_from_environment() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            }
        };
        assert_eq!(
            PackOptions::from_environment(lookup(&[])).unwrap(),
            PackOptions::default()
        );
        assert_eq!(
            PackOptions::from_environment(lookup(&[
                ("SOURCE_DATE_EPOCH", "1700000000"),
                ("SITE_GZIP", "0")
            ]))
            .unwrap(),
            PackOptions {
                source_date_epoch_s: Some(1_700_000_000),
                gzip_siblings: false,
                include_hidden: false,
            }
        );
        assert!(matches!(
            PackOptions::from_environment(lookup(&[("SOURCE_DATE_EPOCH", "yesterday")])),
            Err(PackError::BadEnvironment {
                variable: "SOURCE_DATE_EPOCH",
                ..
            })
        ));
        assert!(matches!(
            PackOptions::from_environment(lookup(&[("SITE_GZIP", "yes")])),
            Err(PackError::BadEnvironment {
                variable: "SITE_GZIP",
                ..
            })
        ));
    }

    #[test]
    fn refuses_symlinks() {
        let site = TempDirectory::new("symlink");
        site.write("target.txt", b"x", 0);
        std::os::unix::fs::symlink("target.txt", site.0.join("link.txt")).unwrap();
        let error = pack_directory(&site.0, &NO_GZIP).unwrap_err();
        assert!(
            matches!(&error, PackError::UnsupportedFileType { path, kind: "symbolic link" }
                if *path == site.0.join("link.txt")),
            "{error}"
        );
        assert!(error.to_string().contains("link.txt"));
    }

    #[test]
    fn refuses_fifos_and_sockets() {
        let site = TempDirectory::new("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(site.0.join("pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        assert!(matches!(
            pack_directory(&site.0, &NO_GZIP),
            Err(PackError::UnsupportedFileType { kind: "FIFO", .. })
        ));

        let site = TempDirectory::new("socket");
        let _listener = std::os::unix::net::UnixListener::bind(site.0.join("sock")).unwrap();
        assert!(matches!(
            pack_directory(&site.0, &NO_GZIP),
            Err(PackError::UnsupportedFileType { kind: "socket", .. })
        ));
    }

    #[test]
    fn refuses_bad_names() {
        use std::os::unix::ffi::OsStrExt as _;
        let site = TempDirectory::new("not-utf8");
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.html");
        fs::write(site.0.join(name), b"x").unwrap();
        assert!(matches!(
            pack_directory(&site.0, &NO_GZIP),
            Err(PackError::NotUtf8 { path }) if path == site.0.join(name)
        ));

        for (name, problem) in [
            ("new\nline", PathProblem::ControlCharacter),
            ("back\\slash", PathProblem::Backslash),
        ] {
            let site = TempDirectory::new("bad-name");
            site.write(&format!("sub/{name}"), b"x", 0);
            let error = pack_directory(&site.0, &NO_GZIP).unwrap_err();
            assert!(
                matches!(&error, PackError::UnsafePath { path, problem: found }
                    if *path == format!("sub/{name}") && *found == problem),
                "{error}"
            );
        }
    }

    #[test]
    fn refuses_files_too_large_for_ustar() {
        let site = TempDirectory::new("large");
        let file = File::create(site.0.join("huge.bin")).unwrap();
        // Sparse: no disk space is used, and the packer refuses before reading.
        file.set_len(USTAR_SIZE_MAX_BYTES + 1).unwrap();
        assert!(matches!(
            pack_directory(&site.0, &NO_GZIP),
            Err(PackError::TooLarge { size_bytes, .. }) if size_bytes == USTAR_SIZE_MAX_BYTES + 1
        ));
    }

    #[test]
    fn refuses_a_root_that_is_not_a_directory() {
        let site = TempDirectory::new("root-file");
        let file = site.write("file.txt", b"x", 0);
        assert!(matches!(
            pack_directory(&file, &NO_GZIP),
            Err(PackError::NotADirectory { .. })
        ));
        assert!(matches!(
            pack_directory(&site.0.join("missing"), &NO_GZIP),
            Err(PackError::Io { .. })
        ));
    }
}
