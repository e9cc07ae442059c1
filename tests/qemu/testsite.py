"""The generated test site: sizes from empty to 10 MiB, nested directories, odd names.

The content is a pure function of the constants below (a seeded `random.Random`), so every run
packs byte-identical files. Files are rewritten only when their content differs, which keeps
their modification times — and with them Cargo's `rerun-if-changed` — stable between runs, so
the e2e image is rebuilt only when the site really changed.
"""

from __future__ import annotations

import hashlib
import random
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

# Seed of the pseudo-random file contents (any fixed number; this one is the date the suite was
# written).
CONTENT_SEED = 20251129

KIB = 1024
MIB = 1024 * KIB

ROOT_INDEX = b"<!doctype html>\n<title>e2e root</title>\n<p>bareserve end-to-end test site, root index</p>\n"
SUB_INDEX = b"<!doctype html>\n<title>e2e sub</title>\n<p>bareserve end-to-end test site, sub/ index</p>\n"

# Path inside the site → size in bytes of pseudo-random (incompressible) content, or fixed bytes.
RANDOM_FILES: dict[str, int] = {
    "empty.bin": 0,
    "one-byte.bin": 1,
    "one-kib.bin": KIB,
    "one-mib.bin": MIB,
    "ten-mib.bin": 10 * MIB,
}
TEXT_FILES: dict[str, bytes] = {
    "index.html": ROOT_INDEX,
    "sub/index.html": SUB_INDEX,
    "a/b/c/deep.txt": b"deep inside a/b/c\n",
    "with space.txt": b"a name with a space\n",
    "\u00fcn\u00efc\u00f8d\u00e9.txt": "UTF-8 name: \u00fcn\u00efc\u00f8d\u00e9\n".encode(),
    "100%.txt": b"a name with a percent sign\n",
    "a+b.txt": b"a name with a plus sign\n",
}

# The one file --quick leaves out of the fetches (it is still in the site).
LARGE_FILE = "ten-mib.bin"


@dataclass(frozen=True)
class SiteFile:
    """One file of the test site and what the server must send for it."""

    path: str
    content: bytes

    @property
    def url_path(self) -> str:
        """The request target: `/` + the path percent-encoded as UTF-8 (RFC 3986 §2.1), with
        `/` kept as the segment separator."""
        return "/" + urllib.parse.quote(self.path, safe="/")

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content."""
        return hashlib.sha256(self.content).hexdigest()


def site_files() -> list[SiteFile]:
    """Every file of the test site, in a fixed order."""
    generator = random.Random(CONTENT_SEED)
    files = [SiteFile(path, generator.randbytes(size)) for path, size in RANDOM_FILES.items()]
    files += [SiteFile(path, content) for path, content in TEXT_FILES.items()]
    return files


def write_site(directory: Path) -> list[SiteFile]:
    """Creates (or updates) the site under `directory`; removes files that do not belong."""
    files = site_files()
    wanted = {directory / file.path for file in files}
    directory.mkdir(parents=True, exist_ok=True)
    for file in files:
        target = directory / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != file.content:
            target.write_bytes(file.content)
    for existing in sorted(directory.rglob("*"), reverse=True):
        if existing.is_file() and existing not in wanted:
            existing.unlink()
        elif existing.is_dir() and not any(existing.iterdir()):
            existing.rmdir()
    return files
