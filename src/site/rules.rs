//! The rules every file of the site archive obeys, shared word for word by the build-time packer
//! (`tools/sitepack`, which compiles this file with `#[path]`) and the boot-time reader
//! (`archive.rs`), so the two can never disagree. Plain `core` only: it builds in both crates.

use core::fmt;

/// Why a path is unsafe to store and to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// The path is empty.
    Empty,
    /// Starts with `/`.
    Absolute,
    /// Has a `..` component.
    ParentComponent,
    /// Has a `.` component or an empty one (`a//b`, trailing `/`).
    EmptyOrDotComponent,
    /// Contains NUL.
    Nul,
    /// Contains another control character (U+0001–U+001F, U+007F), which would corrupt logs and
    /// headers.
    ControlCharacter,
    /// Contains `\`, which some clients and servers treat as a separator.
    Backslash,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            PathProblem::Empty => "the path is empty",
            PathProblem::Absolute => "the path is absolute",
            PathProblem::ParentComponent => "the path has a `..` component",
            PathProblem::EmptyOrDotComponent => "the path has an empty or `.` component",
            PathProblem::Nul => "the path contains NUL",
            PathProblem::ControlCharacter => "the path contains a control character",
            PathProblem::Backslash => "the path contains a backslash",
        })
    }
}

/// Checks that `path` (relative, `/`-separated) is safe to store and to serve.
pub fn check_path(path: &str) -> Result<(), PathProblem> {
    if path.is_empty() {
        return Err(PathProblem::Empty);
    }
    if path.starts_with('/') {
        return Err(PathProblem::Absolute);
    }
    if path.contains('\0') {
        return Err(PathProblem::Nul);
    }
    if path.chars().any(|character| character.is_ascii_control()) {
        return Err(PathProblem::ControlCharacter);
    }
    if path.contains('\\') {
        return Err(PathProblem::Backslash);
    }
    for component in path.split('/') {
        match component {
            ".." => return Err(PathProblem::ParentComponent),
            "" | "." => return Err(PathProblem::EmptyOrDotComponent),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `etag` is a strong entity-tag: `"` *etagc `"`, etagc = %x21 / %x23-7E
/// (RFC 9110 §8.8.3; obs-text is refused so the value is ASCII and safe in a header field).
pub fn is_strong_etag(etag: &str) -> bool {
    match etag.as_bytes() {
        [b'"', inner @ .., b'"'] => inner
            .iter()
            .all(|&byte| byte == 0x21 || (0x23..=0x7e).contains(&byte)),
        _ => false,
    }
}
