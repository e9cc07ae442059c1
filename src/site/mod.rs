//! The site: the archive `build.rs` packs from `disk/`, read once at boot into an index of files.
//!
//! | module | what it does |
//! |---|---|
//! | [`archive`] | reader of the ustar/PAX archive (POSIX.1-2017 XCU `pax`, "ustar Interchange Format" and "pax Interchange Format") |
//! | `index` | the site index: path → file bytes, size, modification time, ETag ([`Site`]) |
//! | [`rules`] | path and ETag rules shared with the build-time packer (`tools/sitepack` compiles `rules.rs` with `#[path]`) |

pub mod archive;
mod index;
pub mod rules;

pub use index::{DirectoryEntry, FileEntry, Site, SiteError, fallback_etag};
