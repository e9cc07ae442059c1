"""Real clients nobody on this project wrote, against the demo site (`disk/` in the normal
`cargo kernel` image): curl (ranges, conditional requests, gzip, HTTP/1.0, HEAD), `wget --mirror`,
Python's http.client on one keep-alive connection, headless Chromium driven over its DevTools
pipe, and — in a private network namespace with a tap device — ping and HTTP over IPv4 and IPv6
link-local (issue 4).

Every external program runs with a timeout; a missing optional program (wget, Chromium, ping) or
a machine without root, /dev/net/tun or network namespaces turns the checks that need it into
SKIP lines with the reason and the Debian package that provides it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import email.utils
import fcntl
import gzip
import html.parser
import http.client
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from framework import GroupAborted, GroupRun, group
import testsite
from harness import (
    LISTENING_PATTERN,
    Machine,
    TestFailure,
    TestSkipped,
    VirtOptions,
    assert_no_fault,
    boot_virt,
    booted,
    die_with_parent,
    run_program,
    wait_for_http_ok,
)
from netns import (
    TAP_GUEST_ADDRESS,
    TAP_HOST_ADDRESS,
    TAP_INTERFACE,
    TAP_PREFIX_LENGTH,
    in_namespace,
    tap_namespace,
)

BOOT_TIMEOUT_S = 30
# Longest run of one client program (each finishes in well under a second here).
TOOL_TIMEOUT_S = 30
# curl's own limit per invocation, below TOOL_TIMEOUT_S so curl reports it itself.
CURL_MAX_TIME_S = 20
# One page load in Chromium, from navigation to network idle.
PAGE_LOAD_TIMEOUT_S = 30
# Browser start until its DevTools pipe answers. Chromium's first start on a machine (fonts,
# profile, shader caches) took over 30 s once on 2 busy cores; later starts take a few seconds.
BROWSER_START_TIMEOUT_S = 90
# Chromium fetches the favicon after the load event; how long to wait for it in the access log.
FAVICON_WAIT_S = 5
# Window (and screenshot) size in CSS pixels.
WINDOW_WIDTH = 1280
WINDOW_HEIGHT = 900
# The colour count is taken from a screenshot at this scale (a pure-Python PNG decoder is slow).
COLOUR_SAMPLE_SCALE = 0.25
# A rendered page has anti-aliased text and images: many colours. A blank or error page has few.
MINIMUM_DISTINCT_COLOURS = 64
# Smallest plausible PNG of a 1280×900 rendered page (a blank one is about 5 KB).
MINIMUM_SCREENSHOT_BYTES = 10_000
# Text files at least this large always shrink under gzip, so the site packer gave them a
# `.gz` sibling (tools/sitepack: a sibling is kept when it is smaller).
GZIP_MINIMUM_BYTES = 512
# File types the packer compresses (tools/sitepack GZIP_EXTENSIONS, the ones the demo site uses).
GZIP_SUFFIXES = (".html", ".css", ".js", ".svg", ".txt", ".json", ".xml")
# A committed screenshot must stay small (tests/qemu/screenshots/).
SCREENSHOT_COMMIT_MAX_BYTES = 200_000

# The access-log line of one request (src/net/access_log.rs `log_record`):
# `[    3.839488] INFO  10.0.2.2:46422 "GET /" 200 4897 0us`.
ACCESS_LOG_PATTERN = re.compile(
    r'INFO\s+(?P<peer>\S+) "(?P<method>[A-Z]+) (?P<target>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) \d+us'
)

# The tap network (issue 4): host side and guest in 10.0.5.0/24 inside a namespace of our own
# (netns.py: TAP_INTERFACE, TAP_HOST_ADDRESS, TAP_GUEST_ADDRESS, TAP_PREFIX_LENGTH).
TAP_BROADCAST_ADDRESS = "10.0.5.255"
# While the guest boots, the namespace broadcasts a UDP datagram to the discard port (RFC 863)
# this often, for this long: traffic that arrives while the guest brings its NIC up, as on any
# busy LAN. It ends before the checks start.
BOOT_TRAFFIC_INTERVAL_S = 0.005
BOOT_TRAFFIC_S = 1.5
# QEMU's default MAC 52:54:00:12:34:56 as a modified EUI-64 link-local address (RFC 4291 §2.5.1,
# Appendix A); the kernel prints the same (`net: MAC … link-local …`).
GUEST_LINK_LOCAL = "fe80::5054:ff:fe12:3456"
PING_COUNT = 3
PING_REPLY_TIMEOUT_S = 2
# The round-trip check: echo requests this far apart, each answered within the limit. A guest
# that misses the receive interrupt answers only when its loop wakes anyway (at most every
# second, src/kernel/serve.rs MAX_SLEEP_US), which shows as round trips near one second; under
# TCG a prompt answer takes a few milliseconds. Frames that reach the NIC while the guest is still
# bringing it up (BOOT_TRAFFIC_*, and Linux's own IPv6 router solicitation and MLD reports) make
# this likely to show.
ROUND_TRIP_PINGS = 5
ROUND_TRIP_INTERVAL_S = 0.2
ROUND_TRIP_LIMIT_MS = 250
# How long the host's tap link-local address may take to appear and finish duplicate address
# detection (RFC 4862 §5.4; about a second with DAD, none without).
LINK_LOCAL_WAIT_S = 10


# ---------------------------------------------------------------------------------------------
# The demo site as files on disk
# ---------------------------------------------------------------------------------------------


def site_files(site_root: Path) -> dict[str, bytes]:
    """Every file of the site: its path relative to `site_root` (with `/`) → its bytes."""
    return {
        path.relative_to(site_root).as_posix(): path.read_bytes()
        for path in sorted(site_root.rglob("*"))
        if path.is_file()
    }


def url_path_of(site_path: str) -> str:
    """The URL path that serves a site file: index pages by their directory."""
    if site_path == "index.html":
        return "/"
    if site_path.endswith("/index.html"):
        return "/" + urllib.parse.quote(site_path[: -len("index.html")])
    return "/" + urllib.parse.quote(site_path)


def site_path_of(url_path: str, files: dict[str, bytes]) -> str | None:
    """The site file a URL path names (a directory means its index.html), or None."""
    path = urllib.parse.unquote(url_path).lstrip("/")
    candidates = [path + "index.html"] if path.endswith("/") or not path else [path, path + "/index.html"]
    for candidate in candidates:
        if candidate in files:
            return candidate
    return None


class LinkCollector(html.parser.HTMLParser):
    """The links of one HTML page: every `href` and `src`, and separately the sub-resources a
    browser loads with the page (stylesheets, icons, images, scripts)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attributes}
        for name in ("href", "src"):
            if values.get(name):
                self.links.append(values[name])
        relations = values.get("rel", "").lower().split()
        if tag == "link" and values.get("href") and ("stylesheet" in relations or "icon" in relations):
            self.assets.append(values["href"])
        if tag in ("img", "script") and values.get("src"):
            self.assets.append(values["src"])


def page_links(content: bytes) -> LinkCollector:
    """Parses an HTML page's links."""
    collector = LinkCollector()
    collector.feed(content.decode("utf-8", errors="replace"))
    collector.close()
    return collector


# CSS `url(...)` references (CSS Values 4 §4.5), which wget follows too.
CSS_URL_PATTERN = re.compile(r"""url\(\s*['"]?([^'")\s]+)""")
ORIGIN = "http://site.invalid"


def same_origin_path(base_url: str, link: str) -> str | None:
    """The path of `link` resolved against `base_url`, if it stays on the site (no scheme of its
    own, no other host); the fragment and query are dropped."""
    resolved = urllib.parse.urlsplit(urllib.parse.urljoin(base_url, link))
    if f"{resolved.scheme}://{resolved.netloc}" != ORIGIN:
        return None
    return resolved.path or "/"


@dataclass
class Crawl:
    """What a mirroring client reaches from `/` and `/robots.txt`: the site files, and the linked
    URL paths that name no file (each answered with 404)."""

    reached: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)


def crawl_site(files: dict[str, bytes]) -> Crawl:
    """Follows the site's links the way `wget --mirror` does (HTML `href`/`src`, CSS `url()`),
    on the files themselves rather than over the network."""
    crawl = Crawl()
    queue = ["/", "/robots.txt"]
    seen: set[str] = set()
    while queue:
        url_path = queue.pop(0)
        if url_path in seen:
            continue
        seen.add(url_path)
        site_path = site_path_of(url_path, files)
        if site_path is None:
            crawl.missing.add(url_path)
            continue
        crawl.reached.add(site_path)
        base_url = ORIGIN + url_path_of(site_path)
        content = files[site_path]
        if site_path.endswith(".html"):
            links = page_links(content).links
        elif site_path.endswith(".css"):
            links = CSS_URL_PATTERN.findall(content.decode("utf-8", errors="replace"))
        else:
            links = []
        for link in links:
            path = same_origin_path(base_url, link)
            if path is not None and path not in seen:
                queue.append(path)
    return crawl


# ---------------------------------------------------------------------------------------------
# Running programs
# ---------------------------------------------------------------------------------------------


def require_program(name: str, package: str) -> str:
    """The path of a program, or a SKIP naming the Debian package that provides it."""
    path = shutil.which(name)
    if path is None:
        raise TestSkipped(f"{name} is not installed (Debian package {package})")
    return path


@dataclass
class CurlReply:
    """One curl transfer: the last response head (status and fields in order) and the body curl
    wrote (decoded if `--compressed`), plus the `-w` output."""

    status: int
    fields: list[tuple[str, str]]
    body: bytes
    write_out: str

    def field(self, name: str) -> str | None:
        """The value of a header field (several lines joined with `, `, RFC 9110 §5.3)."""
        values = [value for field_name, value in self.fields if field_name == name.lower()]
        return ", ".join(values) if values else None


def parse_heads(text: str) -> list[tuple[int, list[tuple[str, str]]]]:
    """Splits curl's `-D` output into response heads: (status, [(lower-case name, value)])."""
    heads = []
    for block in text.replace("\r\n", "\n").strip("\n").split("\n\n"):
        lines = block.strip("\n").split("\n")
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        parts = lines[0].split(" ", 2)
        fields = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields.append((name.strip().lower(), value.strip()))
        heads.append((int(parts[1]), fields))
    return heads


def curl(port: int, target: str, *options: str, write_out: str = "") -> CurlReply:
    """One curl invocation for `http://127.0.0.1:port{target}`; fails if curl fails."""
    curl_path = require_program("curl", "curl")
    with tempfile.TemporaryDirectory(prefix="bareserve-curl-") as directory:
        head_path = Path(directory) / "head"
        body_path = Path(directory) / "body"
        arguments = [curl_path, "-sS", "--max-time", str(CURL_MAX_TIME_S), "-D", str(head_path),
                     "-o", str(body_path), *options]
        if write_out:
            arguments += ["-w", write_out]
        arguments.append(f"http://127.0.0.1:{port}{target}")
        result = run_program(arguments)
        if result.returncode != 0:
            raise TestFailure(f"`curl {' '.join(options)} {target}` exited with {result.returncode}: "
                              f"{result.stderr.decode(errors='replace').strip()}")
        heads = parse_heads(head_path.read_text(encoding="latin-1") if head_path.exists() else "")
        if not heads:
            raise TestFailure(f"`curl {' '.join(options)} {target}`: no response head")
        status, fields = heads[-1]
        body = body_path.read_bytes() if body_path.exists() else b""
        return CurlReply(status, fields, body, result.stdout.decode(errors="replace"))


def expect_status(reply: CurlReply, status: int, what: str) -> None:
    """Fails unless the reply has `status`."""
    if reply.status != status:
        raise TestFailure(f"{what}: status {reply.status}, expected {status}; fields {reply.fields}")


def expect_equal_bytes(received: bytes, expected: bytes, what: str) -> None:
    """Fails unless two byte strings are equal, naming the first difference."""
    if received == expected:
        return
    position = next((index for index, (a, b) in enumerate(zip(received, expected)) if a != b),
                    min(len(received), len(expected)))
    raise TestFailure(f"{what}: {len(received)} bytes, expected {len(expected)}; first difference at byte "
                      f"{position}: {received[position:position + 24]!r} vs {expected[position:position + 24]!r}")


# RFC 9110 §14.4: `Content-Range: bytes first-last/complete-length`.
CONTENT_RANGE_PATTERN = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def parse_multipart_byteranges(body: bytes, boundary: str) -> list[tuple[str, str, bytes]]:
    """The parts of a `multipart/byteranges` body (RFC 9110 §14.6, RFC 2046 §5.1.1): a list of
    (Content-Type, Content-Range, part body). Fails on anything malformed."""
    delimiter = b"\r\n--" + boundary.encode()
    # The body may start with the delimiter itself (no preamble, no leading CRLF).
    data = body if body.startswith(b"\r\n") else b"\r\n" + body
    close = delimiter + b"--"
    end = data.find(close)
    if end < 0:
        raise TestFailure(f"multipart body has no close delimiter {close!r}")
    if data[end + len(close):].strip(b"\r\n"):
        raise TestFailure(f"bytes after the close delimiter: {data[end + len(close):][:40]!r}")
    chunks = data[:end].split(delimiter)
    if chunks[0].strip(b"\r\n"):
        raise TestFailure(f"preamble before the first part: {chunks[0][:40]!r}")
    parts = []
    for chunk in chunks[1:]:
        if not chunk.startswith(b"\r\n"):
            raise TestFailure(f"delimiter not followed by CRLF: {chunk[:40]!r}")
        head_end = chunk.find(b"\r\n\r\n")
        if head_end < 0:
            raise TestFailure(f"part without a complete head: {chunk[:80]!r}")
        fields = {}
        for line in chunk[2:head_end].decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        parts.append((fields.get("content-type", ""), fields.get("content-range", ""), chunk[head_end + 4:]))
    return parts


# ---------------------------------------------------------------------------------------------
# The kernel's access log
# ---------------------------------------------------------------------------------------------


@dataclass
class LoggedRequest:
    """One access-log line."""

    peer: str
    method: str
    target: str
    status: int


def logged_requests(text: str) -> list[LoggedRequest]:
    """The access-log lines in a piece of console text."""
    return [LoggedRequest(match["peer"], match["method"], match["target"], int(match["status"]))
            for match in ACCESS_LOG_PATTERN.finditer(text)]


# ---------------------------------------------------------------------------------------------
# PNG (for the screenshots): enough of RFC 2083 / ISO 15948 to count colours
# ---------------------------------------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, set[bytes], float]:
    """Decodes an 8-bit, non-interlaced RGB or RGBA PNG; returns width, height, the set of
    distinct pixel values and the share of the most common one."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise TestFailure(f"not a PNG: starts with {data[:8]!r}")
    position = 8
    header = b""
    compressed = bytearray()
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        payload = data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = payload
        elif kind == b"IDAT":
            compressed += payload
        elif kind == b"IEND":
            break
    if len(header) != 13:
        raise TestFailure("PNG without a valid IHDR chunk")
    width, height, bit_depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    channels = {2: 3, 6: 4}.get(colour_type)
    if bit_depth != 8 or channels is None or interlace != 0:
        raise TestFailure(f"PNG form not handled here: depth {bit_depth}, colour type {colour_type}, "
                          f"interlace {interlace}")
    raw = zlib.decompress(bytes(compressed))
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise TestFailure(f"PNG data is {len(raw)} bytes, expected {height * (stride + 1)}")
    previous = bytearray(stride)
    counts: dict[bytes, int] = {}
    for row in range(height):
        start = row * (stride + 1)
        filter_type = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        # The five filters of PNG §9.2 undone, left to right (`a` left, `b` above, `c` above left).
        if filter_type == 1:
            for index in range(channels, stride):
                line[index] = (line[index] + line[index - channels]) & 0xFF
        elif filter_type == 2:
            for index in range(stride):
                line[index] = (line[index] + previous[index]) & 0xFF
        elif filter_type == 3:
            for index in range(stride):
                left = line[index - channels] if index >= channels else 0
                line[index] = (line[index] + ((left + previous[index]) >> 1)) & 0xFF
        elif filter_type == 4:
            for index in range(stride):
                left = line[index - channels] if index >= channels else 0
                above = previous[index]
                above_left = previous[index - channels] if index >= channels else 0
                estimate = left + above - above_left
                distance_left, distance_above, distance_above_left = (
                    abs(estimate - left), abs(estimate - above), abs(estimate - above_left))
                if distance_left <= distance_above and distance_left <= distance_above_left:
                    predictor = left
                elif distance_above <= distance_above_left:
                    predictor = above
                else:
                    predictor = above_left
                line[index] = (line[index] + predictor) & 0xFF
        elif filter_type != 0:
            raise TestFailure(f"PNG row {row} has filter type {filter_type}")
        for index in range(0, stride, channels):
            pixel = bytes(line[index:index + channels])
            counts[pixel] = counts.get(pixel, 0) + 1
        previous = line
    most_common_share = max(counts.values()) / (width * height) if counts else 1.0
    return width, height, set(counts), most_common_share


# ---------------------------------------------------------------------------------------------
# Chromium over the DevTools protocol pipe
# ---------------------------------------------------------------------------------------------


def find_chromium() -> str:
    """The Chromium binary ($CHROMIUM, else `chromium` or `chromium-browser` on PATH), or SKIP."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    raise TestSkipped("Chromium is not installed (Debian package chromium: apt-get install -y chromium)")


class DevTools:
    """A headless Chromium driven through `--remote-debugging-pipe`: the browser reads
    NUL-terminated JSON commands on its file descriptor 3 and writes replies and events on 4
    (Chrome DevTools Protocol). The browser runs in its own process group, which `close()` kills."""

    def __init__(self, binary: str, profile_directory: Path, log_path: Path) -> None:
        command_read, self._command_write = os.pipe()
        self._reply_read, reply_write = os.pipe()

        def child_setup() -> None:
            die_with_parent()
            # Move both ends out of the way first, so that neither dup2 overwrites the other.
            command_high = fcntl.fcntl(command_read, fcntl.F_DUPFD, 10)
            reply_high = fcntl.fcntl(reply_write, fcntl.F_DUPFD, 10)
            os.dup2(command_high, 3)
            os.dup2(reply_high, 4)

        self._log = open(log_path, "wb")
        arguments = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--no-default-browser-check", "--remote-debugging-pipe",
            f"--user-data-dir={profile_directory}", f"--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}",
            "about:blank",
        ]
        self._log.write(("$ " + " ".join(arguments) + "\n").encode())
        self._log.flush()
        try:
            # close_fds=False keeps descriptors 3 and 4 made in child_setup; every other descriptor
            # of this process is close-on-exec (PEP 446).
            self.process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=self._log,
                                            stderr=self._log, start_new_session=True, close_fds=False,
                                            preexec_fn=child_setup)
        finally:
            os.close(command_read)
            os.close(reply_write)
        self._buffer = b""
        self._next_id = 1
        self.events: list[dict] = []
        self._replies: dict[int, dict] = {}

    def _receive(self, timeout_s: float) -> bool:
        """Reads what the browser has written within `timeout_s`; False if nothing came."""
        ready, _, _ = select.select([self._reply_read], [], [], max(0.0, timeout_s))
        if not ready:
            return False
        chunk = os.read(self._reply_read, 1 << 20)
        if not chunk:
            raise TestFailure(f"Chromium closed its DevTools pipe (exit {self.process.poll()})")
        self._buffer += chunk
        while b"\0" in self._buffer:
            message, self._buffer = self._buffer.split(b"\0", 1)
            decoded = json.loads(message)
            if "id" in decoded:
                self._replies[decoded["id"]] = decoded
            else:
                self.events.append(decoded)
        return True

    def call(self, method: str, parameters: dict | None = None, session: str | None = None,
             timeout_s: float = 15) -> dict:
        """Sends one command and waits for its reply; fails on an error reply or a timeout."""
        identifier = self._next_id
        self._next_id += 1
        message: dict = {"id": identifier, "method": method, "params": parameters or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._command_write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while identifier not in self._replies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure(f"Chromium did not answer {method} within {timeout_s:g} s")
            self._receive(remaining)
        reply = self._replies.pop(identifier)
        if "error" in reply:
            raise TestFailure(f"Chromium {method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str, timeout_s: float, start: int,
                   predicate=lambda event: True) -> dict:
        """Waits for an event of `method` on `session` among the events from index `start`."""
        deadline = time.monotonic() + timeout_s
        checked = start
        while True:
            while checked < len(self.events):
                event = self.events[checked]
                checked += 1
                if event.get("method") == method and event.get("sessionId") == session and predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure(f"no {method} event within {timeout_s:g} s")
            self._receive(remaining)

    def drain(self, seconds: float) -> None:
        """Collects events for a while (late console messages)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._receive(deadline - time.monotonic())

    def close(self) -> None:
        """Asks the browser to close, then kills its process group whatever happened."""
        with contextlib.suppress(Exception):
            if self.process.poll() is None:
                os.write(self._command_write, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
                self.process.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        for descriptor in (self._command_write, self._reply_read):
            with contextlib.suppress(OSError):
                os.close(descriptor)
        self._log.close()


@dataclass
class PageLoad:
    """What one page load showed: responses by URL, failures, console errors and the DOM's view
    of its images and stylesheets."""

    responses: dict[str, int]
    failures: list[str]
    console_errors: list[str]
    console_warnings: list[str]
    dom_report: dict
    screenshot: bytes
    sample: bytes
    seconds: float


# Run in the page after loading: every image decoded, every stylesheet parsed with rules.
DOM_REPORT_SCRIPT = """JSON.stringify({
  title: document.title,
  images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, complete: i.complete,
                                                 width: i.naturalWidth})),
  stylesheets: Array.from(document.styleSheets).map(s => {
    let rules = -1; try { rules = s.cssRules.length; } catch (e) {}
    return {href: s.href, rules: rules};
  }),
  background: getComputedStyle(document.body).backgroundColor,
  font: getComputedStyle(document.body).fontFamily
})"""


def load_page(browser: DevTools, url: str) -> PageLoad:
    """Opens `url` in a fresh tab with the cache off and collects what happened until the network
    was idle; then takes a full screenshot and a scaled-down one for the colour count."""
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable", session=session)
    browser.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=session)
    # The viewport exactly the screenshot's size (--window-size counts the window, not the page).
    browser.call("Emulation.setDeviceMetricsOverride", {"width": WINDOW_WIDTH, "height": WINDOW_HEIGHT,
                                                         "deviceScaleFactor": 1, "mobile": False}, session=session)
    # Every sub-resource must come from the server, so that the access log shows it.
    browser.call("Network.setCacheDisabled", {"cacheDisabled": True}, session=session)
    start = len(browser.events)
    started = time.monotonic()
    navigation = browser.call("Page.navigate", {"url": url}, session=session)
    if navigation.get("errorText"):
        raise TestFailure(f"Chromium could not open {url}: {navigation['errorText']}")
    browser.wait_event("Page.loadEventFired", session, PAGE_LOAD_TIMEOUT_S, start)
    # networkIdle: no request for 500 ms (the favicon and late images included).
    browser.wait_event("Page.lifecycleEvent", session, PAGE_LOAD_TIMEOUT_S, start,
                       lambda event: event["params"].get("name") == "networkIdle")
    seconds = time.monotonic() - started
    report = json.loads(browser.call("Runtime.evaluate", {"expression": DOM_REPORT_SCRIPT, "returnByValue": True},
                                     session=session)["result"]["value"])
    clip = {"x": 0, "y": 0, "width": WINDOW_WIDTH, "height": WINDOW_HEIGHT}
    screenshot = browser.call("Page.captureScreenshot", {"format": "png", "clip": dict(clip, scale=1)},
                              session=session)["data"]
    sample = browser.call("Page.captureScreenshot", {"format": "png", "clip": dict(clip, scale=COLOUR_SAMPLE_SCALE)},
                          session=session)["data"]
    browser.drain(0.2)
    requests: dict[str, str] = {}
    responses: dict[str, int] = {}
    failures: list[str] = []
    errors: list[str] = []
    warnings: list[str] = []
    for event in browser.events[start:]:
        if event.get("sessionId") != session:
            continue
        method, parameters = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            requests[parameters["requestId"]] = parameters["request"]["url"]
        elif method == "Network.responseReceived":
            responses[parameters["response"]["url"]] = parameters["response"]["status"]
        elif method == "Network.loadingFailed":
            failures.append(f"{requests.get(parameters['requestId'], '?')}: {parameters.get('errorText')}")
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(argument.get("value", argument.get("description", "")))
                            for argument in parameters.get("args", []))
            (errors if parameters.get("type") in ("error", "assert") else warnings).append(
                f"console.{parameters.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = parameters.get("exceptionDetails", {})
            errors.append(f"exception: {details.get('exception', {}).get('description', details.get('text'))}")
        elif method == "Log.entryAdded":
            entry = parameters["entry"]
            line = f"{entry.get('source')} {entry.get('level')}: {entry.get('text')} {entry.get('url', '')}".strip()
            if entry.get("level") == "error":
                errors.append(line)
            elif entry.get("level") == "warning":
                warnings.append(line)
    with contextlib.suppress(TestFailure):
        browser.call("Target.closeTarget", {"targetId": target})
    return PageLoad(responses, failures, errors, warnings, report, base64.b64decode(screenshot),
                    base64.b64decode(sample), seconds)


# ---------------------------------------------------------------------------------------------
# The group on user networking
# ---------------------------------------------------------------------------------------------

CLIENT_CHECKS = (
    "ready", "curl_ranges", "curl_conditional", "curl_compressed", "curl_http10", "curl_head",
    "wget_mirror", "python_client", "chromium_index", "chromium_docs", "no_fault",
)


@group("clients", checks=CLIENT_CHECKS, images=("virt",))
def clients(run: GroupRun) -> None:
    """One boot of the normal image (demo site) on user networking; each client in turn."""
    site_root = run.context.repository_root / "disk"
    files = site_files(site_root)
    options = VirtOptions(image=run.context.image("virt"))
    with boot_virt(options, run.context.log_path("clients")) as machine:
        client_checks(run, machine, files)


def client_checks(run: GroupRun, machine: Machine, files: dict[str, bytes]) -> None:
    """The checks against one booted machine serving `files`."""
    port = machine.http_port
    stylesheet = files["style.css"]

    def ready() -> str:
        listening = machine.wait_for(LISTENING_PATTERN, BOOT_TIMEOUT_S)
        seconds = wait_for_http_ok(machine, BOOT_TIMEOUT_S)
        return f"ready {listening['ready_us']} us after reset; first 200 after {seconds:.2f} s"

    def curl_ranges() -> str:
        size = len(stylesheet)
        measured = []
        # RFC 9110 §14.1.2: first-last (inclusive) and the suffix form -N (the last N bytes).
        for option, first, last in (("0-99", 0, 99), ("-100", size - 100, size - 1), ("100-", 100, size - 1)):
            reply = curl(port, "/style.css", "-r", option)
            expect_status(reply, 206, f"-r {option}")
            expected_range = f"bytes {first}-{last}/{size}"
            if reply.field("content-range") != expected_range:
                raise TestFailure(f"-r {option}: Content-Range {reply.field('content-range')!r}, "
                                  f"expected {expected_range!r}")
            if reply.field("content-length") != str(last - first + 1):
                raise TestFailure(f"-r {option}: Content-Length {reply.field('content-length')!r}, "
                                  f"expected {last - first + 1}")
            expect_equal_bytes(reply.body, stylesheet[first:last + 1], f"-r {option} body")
            measured.append(f"{option} → {expected_range}")
        # Several ranges: one multipart/byteranges body (RFC 9110 §14.6), parts in request order.
        ranges = [(0, 9), (100, 199), (size - 50, size - 1)]
        reply = curl(port, "/style.css", "-r", "0-9,100-199,-50")
        expect_status(reply, 206, "-r 0-9,100-199,-50")
        content_type = reply.field("content-type") or ""
        match = re.fullmatch(r"multipart/byteranges;\s*boundary=\"?([^\";]+)\"?", content_type)
        if match is None:
            raise TestFailure(f"multiple ranges: Content-Type {content_type!r}, expected multipart/byteranges")
        if reply.field("content-length") != str(len(reply.body)):
            raise TestFailure(f"multipart: Content-Length {reply.field('content-length')} but {len(reply.body)} bytes")
        parts = parse_multipart_byteranges(reply.body, match[1])
        if len(parts) != len(ranges):
            raise TestFailure(f"multipart: {len(parts)} parts, expected {len(ranges)}")
        for (part_type, part_range, part_body), (first, last) in zip(parts, ranges):
            if part_range != f"bytes {first}-{last}/{size}" or not part_type.startswith("text/css"):
                raise TestFailure(f"part for {first}-{last}: Content-Range {part_range!r}, Content-Type {part_type!r}")
            expect_equal_bytes(part_body, stylesheet[first:last + 1], f"part {first}-{last}")
        # A range that starts past the end: 416 with the complete length (RFC 9110 §15.5.17).
        unsatisfiable = curl(port, "/style.css", "-r", f"{size + 100}-")
        expect_status(unsatisfiable, 416, f"-r {size + 100}-")
        if unsatisfiable.field("content-range") != f"bytes */{size}":
            raise TestFailure(f"416: Content-Range {unsatisfiable.field('content-range')!r}, expected 'bytes */{size}'")
        return (", ".join(measured) + f"; 3 ranges → multipart/byteranges of {len(reply.body)} bytes, parts equal "
                f"the file's bytes; {size + 100}- → 416 bytes */{size}")

    def curl_conditional() -> str:
        first = curl(port, "/style.css")
        expect_status(first, 200, "GET /style.css")
        etag, last_modified = first.field("etag"), first.field("last-modified")
        if not etag or not last_modified:
            raise TestFailure(f"GET /style.css without ETag or Last-Modified: {first.fields}")
        modified_at = email.utils.parsedate_to_datetime(last_modified)
        one_second_earlier = email.utils.format_datetime(modified_at - datetime.timedelta(seconds=1), usegmt=True)
        outcomes = []
        # (curl options, expected status): the validator itself, and one that must not match.
        plans = [
            (("-z", last_modified), 304, "If-Modified-Since = Last-Modified"),
            (("-z", one_second_earlier), 200, "If-Modified-Since one second earlier"),
            (("-H", f"If-None-Match: {etag}"), 304, "If-None-Match = ETag"),
            (("-H", 'If-None-Match: "not-the-etag"'), 200, "If-None-Match another tag"),
            # RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since. (The field is given with
            # -H: after `-z`, curl itself would drop a 200 whose Last-Modified is not newer.)
            (("-H", 'If-None-Match: "not-the-etag"', "-H", f"If-Modified-Since: {last_modified}"), 200,
             "If-None-Match miss + IMS hit"),
        ]
        for options, status, what in plans:
            reply = curl(port, "/style.css", *options)
            expect_status(reply, status, what)
            if status == 304:
                if reply.body:
                    raise TestFailure(f"{what}: 304 with {len(reply.body)} body bytes")
                if reply.field("etag") != etag:
                    raise TestFailure(f"{what}: 304 ETag {reply.field('etag')!r}, expected {etag!r}")
            else:
                expect_equal_bytes(reply.body, stylesheet, what)
            outcomes.append(f"{what} → {status}")
        return f"ETag {etag}, Last-Modified {last_modified!r}: " + "; ".join(outcomes)

    def curl_compressed() -> str:
        measured = []
        candidates = [path for path, content in files.items()
                      if path.endswith(GZIP_SUFFIXES) and len(content) >= GZIP_MINIMUM_BYTES]
        if "style.css" not in candidates or "index.html" not in candidates:
            raise TestFailure(f"the demo site lacks style.css or index.html of {GZIP_MINIMUM_BYTES}+ bytes")
        for path in candidates:
            target = url_path_of(path)
            plain = curl(port, target, write_out="%{size_download}")
            expect_status(plain, 200, f"GET {target}")
            if plain.field("content-encoding") is not None:
                raise TestFailure(f"GET {target} without Accept-Encoding: "
                                  f"Content-Encoding {plain.field('content-encoding')!r}")
            expect_equal_bytes(plain.body, files[path], f"GET {target} identity")
            compressed = curl(port, target, "--compressed", write_out="%{size_download}")
            expect_status(compressed, 200, f"--compressed {target}")
            if compressed.field("content-encoding") != "gzip":
                raise TestFailure(f"--compressed {target}: Content-Encoding {compressed.field('content-encoding')!r}, "
                                  f"expected gzip")
            vary = [token.strip().lower() for token in (compressed.field("vary") or "").split(",")]
            if "accept-encoding" not in vary:
                raise TestFailure(f"--compressed {target}: Vary {compressed.field('vary')!r} lacks Accept-Encoding")
            # The gzip form is another representation and needs its own strong validator
            # (RFC 9110 §8.8.3).
            if compressed.field("etag") == plain.field("etag"):
                raise TestFailure(f"{target}: the gzip and identity responses share ETag {plain.field('etag')}")
            expect_equal_bytes(compressed.body, files[path], f"--compressed {target}, decoded by curl")
            # The same bytes undecoded, decoded here instead: a gzip member (RFC 1952).
            raw = curl(port, target, "-H", "Accept-Encoding: gzip")
            if raw.body[:2] != b"\x1f\x8b":
                raise TestFailure(f"Accept-Encoding: gzip {target}: body starts {raw.body[:8]!r}, not the gzip magic")
            expect_equal_bytes(gzip.decompress(raw.body), files[path], f"{target} gzip body decoded by Python")
            wire_bytes = int(compressed.write_out.strip() or "0")
            if wire_bytes >= len(files[path]):
                raise TestFailure(f"--compressed {target}: {wire_bytes} bytes on the wire, "
                                  f"not fewer than {len(files[path])}")
            measured.append(f"{target} {wire_bytes}/{len(files[path])} B")
        # A file the packer does not compress stays identity even when gzip is accepted.
        image = curl(port, "/favicon.png", "--compressed")
        expect_status(image, 200, "--compressed /favicon.png")
        if image.field("content-encoding") is not None:
            raise TestFailure(f"/favicon.png: Content-Encoding {image.field('content-encoding')!r}")
        expect_equal_bytes(image.body, files["favicon.png"], "--compressed /favicon.png")
        return ("gzip, Vary: Accept-Encoding, own ETag, decoded body equals the file: " + ", ".join(measured)
                + "; /favicon.png identity")

    def curl_http10() -> str:
        # Two URLs in one curl run: `%{num_connects}` says whether the second one needed a new
        # connection. HTTP/1.0 without keep-alive: the server closes after each response
        # (RFC 9112 §9.3); HTTP/1.1 (the control): the connection is reused.
        curl_path = require_program("curl", "curl")
        lines = {}
        for label, version_option in (("1.0", "-0"), ("1.1", "--http1.1")):
            with tempfile.TemporaryDirectory(prefix="bareserve-curl-") as directory:
                result = run_program([
                    curl_path, "-sS", "--max-time", str(CURL_MAX_TIME_S), version_option,
                    "-w", "%{http_code} %{num_connects} %{size_download}\\n",
                    "-o", f"{directory}/first", "-o", f"{directory}/second", "-D", f"{directory}/heads",
                    f"http://127.0.0.1:{port}/robots.txt", f"http://127.0.0.1:{port}/favicon.png",
                ])
                if result.returncode != 0:
                    raise TestFailure(f"curl {version_option}: exit {result.returncode}: "
                                      f"{result.stderr.decode(errors='replace')}")
                expect_equal_bytes(Path(directory, "first").read_bytes(), files["robots.txt"],
                                   f"curl {version_option} /robots.txt")
                expect_equal_bytes(Path(directory, "second").read_bytes(), files["favicon.png"],
                                   f"curl {version_option} /favicon.png")
                heads = parse_heads(Path(directory, "heads").read_text(encoding="latin-1"))
            lines[label] = ([line.split() for line in result.stdout.decode().splitlines()], heads)
        connects_10 = [fields[1] for fields in lines["1.0"][0]]
        connects_11 = [fields[1] for fields in lines["1.1"][0]]
        if [fields[0] for fields in lines["1.0"][0] + lines["1.1"][0]] != ["200"] * 4:
            raise TestFailure(f"statuses {lines}")
        if connects_10 != ["1", "1"]:
            raise TestFailure(f"HTTP/1.0: connects per transfer {connects_10}, expected ['1', '1'] "
                              "(the server kept the connection open)")
        if connects_11 != ["1", "0"]:
            raise TestFailure(f"HTTP/1.1 control: connects per transfer {connects_11}, expected ['1', '0'] (reuse)")
        close_headers = [dict(fields).get("connection") for _, fields in lines["1.0"][1]]
        return (f"-0: new connection per request (connects {connects_10}), Connection header {close_headers}; "
                f"--http1.1 control reused it (connects {connects_11})")

    def curl_head() -> str:
        # All HEAD requests in one curl run over one connection: a body sent after a HEAD
        # response (RFC 9110 §9.3.2 forbids it) would be read as the next response's head.
        curl_path = require_program("curl", "curl")
        paths = ["index.html", "style.css", "favicon.png", "docs/index.html"]
        targets = [url_path_of(path) for path in paths]
        with tempfile.TemporaryDirectory(prefix="bareserve-curl-") as directory:
            arguments = [curl_path, "-sS", "--max-time", str(CURL_MAX_TIME_S), "-I", "-D", f"{directory}/heads",
                         "-w", "%{http_code} %{num_connects} %{size_download}\\n"]
            for target in targets:
                arguments += ["-o", os.devnull, f"http://127.0.0.1:{port}{target}"]
            result = run_program(arguments)
            if result.returncode != 0:
                raise TestFailure(f"curl -I: exit {result.returncode}: {result.stderr.decode(errors='replace')}")
            heads = parse_heads(Path(directory, "heads").read_text(encoding="latin-1"))
        transfers = [line.split() for line in result.stdout.decode().splitlines()]
        expected = [["200", "1" if index == 0 else "0", "0"] for index in range(len(targets))]
        if transfers != expected or len(heads) != len(targets):
            raise TestFailure(f"curl -I: (status, connects, body bytes) per transfer {transfers}, expected {expected}; "
                              f"{len(heads)} heads")
        checked = []
        for path, target, (_, head_fields) in zip(paths, targets, heads):
            head = CurlReply(200, head_fields, b"", "")
            get = curl(port, target)
            # RFC 9110 §9.3.2: the same fields as GET, without the content.
            for name in ("content-length", "content-type", "etag", "last-modified", "accept-ranges"):
                if head.field(name) != get.field(name):
                    raise TestFailure(f"{target}: HEAD {name} {head.field(name)!r}, GET {get.field(name)!r}")
            if head.field("content-length") != str(len(files[path])):
                raise TestFailure(f"-I {target}: Content-Length {head.field('content-length')!r}, "
                                  f"expected {len(files[path])}")
            checked.append(f"{target} {head.field('content-length')} B {head.field('content-type')}")
        return (f"{len(targets)} HEAD on one connection, no body bytes, fields equal GET's: " + "; ".join(checked))

    def wget_mirror() -> str:
        wget_path = require_program("wget", "wget")
        crawl = crawl_site(files)
        with tempfile.TemporaryDirectory(prefix="bareserve-wget-") as directory:
            started = time.monotonic()
            # robots.txt is honoured (wget fetches it first); the demo site allows everything.
            result = run_program([wget_path, "--mirror", "--no-host-directories", f"--directory-prefix={directory}",
                                  "--no-verbose", "--tries=1", "--timeout=10", f"http://127.0.0.1:{port}/"],
                                 timeout_s=60)
            seconds = time.monotonic() - started
            log = result.stderr.decode(errors="replace")
            # wget exits 8 when the server answered an error (the site links a missing page on purpose).
            errors = {urllib.parse.urlsplit(url).path: int(status) for url, status in
                      re.findall(r"(http://\S+?):?\s*\n[^\n]*ERROR (\d{3})", log)}
            expected_errors = {path: 404 for path in crawl.missing}
            if errors != expected_errors:
                raise TestFailure(f"wget errors {errors}, expected {expected_errors}\n{log}")
            expected_code = 8 if crawl.missing else 0
            if result.returncode != expected_code:
                raise TestFailure(f"wget exited with {result.returncode}, expected {expected_code}\n{log}")
            mirrored = {path.relative_to(directory).as_posix(): path
                        for path in Path(directory).rglob("*") if path.is_file()}
            if set(mirrored) != crawl.reached:
                raise TestFailure(f"wget saved {sorted(mirrored)}, expected the linked files {sorted(crawl.reached)}")
            total = 0
            same_mtime = 0
            for path, saved in mirrored.items():
                expect_equal_bytes(saved.read_bytes(), files[path], f"mirrored {path}")
                total += len(files[path])
                # wget dates each file by Last-Modified; the packer took it from the file's mtime.
                if int(saved.stat().st_mtime) == int((Path(run.context.repository_root, "disk", path)).stat().st_mtime):
                    same_mtime += 1
        unreached = sorted(set(files) - crawl.reached - {path for path in files if path.endswith(".gz")})
        return (f"{len(mirrored)} files, {total} bytes, byte for byte equal to disk/ in {seconds:.2f} s; "
                f"404 for the linked {sorted(crawl.missing)}; {same_mtime}/{len(mirrored)} mtimes equal the "
                f"source files' (Last-Modified); not linked: {unreached or 'none'}")

    def python_client() -> str:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CURL_MAX_TIME_S)
        seen = []
        try:
            first_socket = None

            def exchange(method: str, target: str, body: bytes | None = None) -> tuple[http.client.HTTPResponse, bytes]:
                nonlocal first_socket
                connection.request(method, target, body=body)
                response = connection.getresponse()
                content = response.read()
                if response.will_close:
                    raise TestFailure(f"{method} {target}: the server announced it will close the connection")
                if first_socket is None:
                    first_socket = connection.sock
                elif connection.sock is not first_socket:
                    raise TestFailure(f"{method} {target} went over a new connection")
                seen.append(f"{method} {target} {response.status}")
                return response, content

            response, content = exchange("GET", "/")
            if response.status != 200 or content != files["index.html"]:
                raise TestFailure(f"GET /: status {response.status}, {len(content)} bytes")
            if not (response.getheader("Content-Type") or "").startswith("text/html"):
                raise TestFailure(f"GET /: Content-Type {response.getheader('Content-Type')!r}")
            response, content = exchange("HEAD", "/style.css")
            if response.status != 200 or content or response.getheader("Content-Length") != str(len(stylesheet)):
                raise TestFailure(f"HEAD /style.css: status {response.status}, Content-Length "
                                  f"{response.getheader('Content-Length')!r}, {len(content)} body bytes")
            allowed = None
            for target in ("/", "*", "/style.css"):
                response, content = exchange("OPTIONS", target)
                allow = {token.strip() for token in (response.getheader("Allow") or "").split(",")}
                if response.status not in (200, 204) or not {"GET", "HEAD", "OPTIONS"} <= allow:
                    raise TestFailure(f"OPTIONS {target}: status {response.status}, "
                                      f"Allow {response.getheader('Allow')!r}")
                allowed = response.getheader("Allow")
            # RFC 9110 §15.5.6: 405 carries Allow.
            for method in ("POST", "PUT", "DELETE"):
                response, content = exchange(method, "/", body=b"name=value")
                allow = {token.strip() for token in (response.getheader("Allow") or "").split(",")}
                if response.status != 405 or not {"GET", "HEAD"} <= allow:
                    raise TestFailure(f"{method} /: status {response.status}, Allow {response.getheader('Allow')!r}")
            response, content = exchange("GET", "/no/such/page.html")
            if response.status != 404:
                raise TestFailure(f"GET /no/such/page.html: status {response.status}")
            expect_equal_bytes(content, files["404.html"], "404 body (the site's 404.html)")
            response, content = exchange("GET", "/docs")
            if response.status != 301 or not (response.getheader("Location") or "").endswith("/docs/"):
                raise TestFailure(f"GET /docs: status {response.status}, Location {response.getheader('Location')!r}")
            response, content = exchange("GET", "/docs/")
            expect_equal_bytes(content, files["docs/index.html"], "GET /docs/")
            return (f"{len(seen)} requests on one connection (local port {first_socket.getsockname()[1]}): "
                    + ", ".join(seen) + f"; Allow: {allowed}")
        finally:
            connection.close()

    def chromium_page(url_path: str, page_file: str, screenshot_name: str) -> str:
        binary = find_chromium()
        expected_assets = set()
        for link in page_links(files[page_file]).assets:
            path = same_origin_path(ORIGIN + url_path, link)
            if path is not None:
                expected_assets.add(path)
        with tempfile.TemporaryDirectory(prefix="bareserve-chromium-") as profile:
            browser = DevTools(binary, Path(profile), run.context.log_directory / f"chromium-{screenshot_name}.log")
            try:
                browser.call("Browser.getVersion", timeout_s=BROWSER_START_TIMEOUT_S)
                offset = len(machine.text)
                load = load_page(browser, f"http://127.0.0.1:{port}{url_path}")
                # Chromium fetches the favicon on its own schedule; give it a moment to show up.
                for asset in sorted(expected_assets):
                    with contextlib.suppress(TestFailure):
                        machine.wait_for(r'"GET ' + re.escape(asset) + r'" ', FAVICON_WAIT_S, start=offset)
                version = browser.call("Browser.getVersion")["product"]
            finally:
                browser.close()
        problems = []
        requests = logged_requests(machine.text[offset:])
        statuses: dict[str, list[int]] = {}
        for request in requests:
            statuses.setdefault(request.target, []).append(request.status)
        for asset in sorted(expected_assets | {url_path}):
            if 200 not in statuses.get(asset, []):
                problems.append(f"{asset} not served with 200 (access log: {statuses.get(asset)})")
        for target, codes in statuses.items():
            # Browsers try /favicon.ico by themselves when a page names no icon; that 404 is fine.
            unlinked_favicon = target == "/favicon.ico" and target not in expected_assets
            if any(code >= 400 for code in codes) and not unlinked_favicon:
                problems.append(f"{target} answered {codes}")
        problems += [f"load failed: {failure}" for failure in load.failures]
        problems += [f"Chromium saw {status} for {url}" for url, status in load.responses.items()
                     if status >= 400 and urllib.parse.urlsplit(url).path != "/favicon.ico"]
        problems += [f"console: {error}" for error in load.console_errors]
        for image in load.dom_report["images"]:
            if not image["complete"] or image["width"] <= 0:
                problems.append(f"image not decoded: {image}")
        for sheet in load.dom_report["stylesheets"]:
            if sheet["rules"] <= 0:
                problems.append(f"stylesheet without rules: {sheet}")
        if not load.dom_report["stylesheets"]:
            problems.append("no stylesheet applied")
        width, height, colours, top_share = png_pixels(load.sample)
        if len(colours) < MINIMUM_DISTINCT_COLOURS or top_share > 0.97:
            problems.append(f"screenshot looks blank: {len(colours)} colours, the most common covers {top_share:.0%}")
        if len(load.screenshot) < MINIMUM_SCREENSHOT_BYTES:
            problems.append(f"screenshot only {len(load.screenshot)} bytes")
        screenshot_path = run.context.log_directory / f"{screenshot_name}.png"
        screenshot_path.write_bytes(load.screenshot)
        if problems:
            raise TestFailure("; ".join(problems) + f" (screenshot {screenshot_path})")
        served = ", ".join(f"{target} {codes}" for target, codes in sorted(statuses.items()))
        return (f"{version}: {url_path} loaded in {load.seconds:.2f} s, title {load.dom_report['title']!r}; "
                f"access log: {served}; {len(load.dom_report['images'])} images decoded, "
                f"{sum(sheet['rules'] for sheet in load.dom_report['stylesheets'])} CSS rules, no console error "
                f"({len(load.console_warnings)} warnings); screenshot {len(load.screenshot)} bytes, "
                f"{len(colours)} colours at {width}×{height} → {screenshot_path}")

    def no_fault() -> str:
        assert_no_fault(machine)
        if machine.exit_code() is not None:
            raise TestFailure(f"QEMU exited ({machine.exit_code()}){machine.describe_tail()}")
        return "no exception or panic on the console; QEMU still running"

    def check_then_probe(name: str, function) -> None:
        # After a failed check, one quick request tells a wrong answer from a dead server.
        if run.check(name, function):
            return
        try:
            wait_for_http_ok(machine, 10)
        except TestFailure:
            raise GroupAborted(f"{run.name}.{name} failed and the server no longer answers GET /") from None

    run.require("ready", ready)
    check_then_probe("curl_ranges", curl_ranges)
    check_then_probe("curl_conditional", curl_conditional)
    check_then_probe("curl_compressed", curl_compressed)
    check_then_probe("curl_http10", curl_http10)
    check_then_probe("curl_head", curl_head)
    check_then_probe("wget_mirror", wget_mirror)
    check_then_probe("python_client", python_client)
    check_then_probe("chromium_index", lambda: chromium_page("/", "index.html", "chromium-index"))
    check_then_probe("chromium_docs", lambda: chromium_page("/docs/", "docs/index.html", "chromium-docs"))
    run.check("no_fault", no_fault)


# ---------------------------------------------------------------------------------------------
# The group on a tap device in a private network namespace (issue 4)
# ---------------------------------------------------------------------------------------------

TAP_CHECKS = ("ready", "offload", "ping4", "http4", "ping6", "http6", "files4", "large6", "round_trip", "no_fault")

# Fetches one URL inside the namespace (run by the namespace's python3): prints the status line
# and then writes the body, so the caller compares bytes. The Host field is given separately: an
# IPv6 zone index (`%tap0`) is not part of a URI's host (RFC 6874 never made it into HTTP use).
FETCH_SCRIPT = """
import http.client, sys
host, port, host_field, target = sys.argv[1:5]
connection = http.client.HTTPConnection(host, int(port), timeout=10)
connection.request("GET", target, headers={"Host": host_field})
response = connection.getresponse()
body = response.read()
sys.stdout.write(f"{response.status}\\n")
sys.stdout.flush()
sys.stdout.buffer.write(body)
"""


# Broadcasts UDP datagrams on the namespace's network for a while (run by the namespace's
# python3); errors while the tap has no carrier yet (QEMU not started) are counted, not fatal.
BOOT_TRAFFIC_SCRIPT = """
import socket, sys, time
address, interval_s, duration_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sender.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
sent = refused = 0
deadline = time.monotonic() + duration_s
while time.monotonic() < deadline:
    try:
        sender.sendto(b"bareserve boot traffic", (address, 9))
        sent += 1
    except OSError:
        refused += 1
    time.sleep(interval_s)
print(f"{sent} sent, {refused} refused")
"""


def parse_ping(output: str) -> tuple[int, int, str]:
    """(transmitted, received, rtt summary) from iputils ping's closing lines."""
    counts = re.search(r"(\d+) packets transmitted, (\d+) received", output)
    rtt = re.search(r"rtt min/avg/max/mdev = (\S+) ms", output)
    if counts is None:
        raise TestFailure(f"no ping summary in:\n{output}")
    return int(counts[1]), int(counts[2]), rtt[1] if rtt else "none"


@group("clients_tap", checks=TAP_CHECKS, images=("e2e",))
def clients_tap(run: GroupRun) -> None:
    """The test-site image on a tap device inside a network namespace made for this run (so no
    address outside it is touched): static `ip=10.0.5.15/24`, the host end 10.0.5.1; ping and
    HTTP over IPv4, and over the guest's IPv6 link-local address. QEMU's virtio-net offers TCP
    checksum and segmentation offload over tap (not over user networking), so every file of the
    test site is fetched here too, byte for byte: the large ones go out as large segments the
    host kernel cuts."""
    files = {file.path: file.content for file in testsite.site_files()}
    with tap_namespace([TAP_HOST_ADDRESS]) as namespace:
        options = VirtOptions(image=run.context.image("e2e"), tap_interface=TAP_INTERFACE,
                              bootargs=f"ip={TAP_GUEST_ADDRESS}/{TAP_PREFIX_LENGTH} gw={TAP_HOST_ADDRESS}")
        command = in_namespace(namespace, options.command(0))
        traffic = subprocess.Popen(
            in_namespace(namespace, ["python3", "-c", BOOT_TRAFFIC_SCRIPT, TAP_BROADCAST_ADDRESS,
                                     str(BOOT_TRAFFIC_INTERVAL_S), str(BOOT_TRAFFIC_S)]),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent)
        try:
            with booted(command, 0, run.context.log_path("clients_tap")) as machine:
                tap_checks(run, machine, namespace, files, traffic)
        finally:
            if traffic.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(traffic.pid, signal.SIGKILL)
            traffic.communicate(timeout=10)


@group("ipv4_conflict", checks=("reported", "not_taken"), images=("e2e",))
def ipv4_conflict(run: GroupRun) -> None:
    """A static address that a host on the link already holds (RFC 5227 §2.1.1): the namespace's
    Linux answers the guest's ARP probe for 10.0.5.15, because the tap device holds that address
    too. The console must name the tap device's MAC, and the guest must not take the address."""
    with tap_namespace([TAP_HOST_ADDRESS, TAP_GUEST_ADDRESS]) as namespace:
        shown = run_program(in_namespace(namespace, ["cat", f"/sys/class/net/{TAP_INTERFACE}/address"]), timeout_s=10)
        host_mac = shown.stdout.decode().strip().replace(":", "-")
        if not re.fullmatch(r"[0-9a-f]{2}(-[0-9a-f]{2}){5}", host_mac):
            raise TestFailure(f"cannot read the tap device's MAC: {shown.stdout!r} {shown.stderr!r}")
        options = VirtOptions(image=run.context.image("e2e"), tap_interface=TAP_INTERFACE,
                              bootargs=f"ip={TAP_GUEST_ADDRESS}/{TAP_PREFIX_LENGTH} gw={TAP_HOST_ADDRESS}")
        with booted(in_namespace(namespace, options.command(0)), 0, run.context.log_path("ipv4_conflict")) as machine:
            conflict: list[re.Match] = []

            def reported() -> str:
                conflict.append(machine.wait_for(r"IPv4 address conflict: (\S+) not taken, the host with MAC (\S+) ([^\n]*)\n",
                                                 BOOT_TIMEOUT_S))
                address, mac = conflict[0][1], conflict[0][2]
                if (address, mac) != (TAP_GUEST_ADDRESS, host_mac):
                    raise TestFailure(f"reported {address} held by {mac}, expected {TAP_GUEST_ADDRESS} held by {host_mac}")
                return conflict[0][0].strip()

            def not_taken() -> str:
                if not conflict:
                    raise TestFailure("no conflict was reported")
                # The probe window is 1 s: had the address been taken, it would show by now.
                time.sleep(3)
                text = machine.text
                if re.search(r"serving http://" + re.escape(TAP_GUEST_ADDRESS), text):
                    raise TestFailure("the guest took the address anyway")
                return "no 'serving' line 3 s after the conflict"

            run.check("reported", reported)
            run.check("not_taken", not_taken)


def tap_checks(run: GroupRun, machine: Machine, namespace: str, files: dict[str, bytes],
               traffic: subprocess.Popen) -> None:
    """The checks against a guest on the namespace's tap device; `traffic` is the broadcast
    sender running while the guest boots."""
    python = "python3"

    def ready() -> str:
        serving = machine.wait_for(r"serving http://" + re.escape(TAP_GUEST_ADDRESS) + r":80/[^\n]*\n",
                                   BOOT_TIMEOUT_S)
        link_local = machine.wait_for(r"link-local (\S+)/64", 5)
        if link_local[1] != GUEST_LINK_LOCAL:
            raise TestFailure(f"guest link-local {link_local[1]}, "
                              f"expected {GUEST_LINK_LOCAL} (EUI-64 of 52:54:00:12:34:56)")
        try:
            output, _ = traffic.communicate(timeout=BOOT_TRAFFIC_S + 10)
        except subprocess.TimeoutExpired:
            raise TestFailure("the boot-traffic sender did not end") from None
        return (f"{serving[0].strip()}; link-local {link_local[1]}; boot traffic to {TAP_BROADCAST_ADDRESS}: "
                f"{output.decode(errors='replace').strip()}")

    def ping(arguments: list[str], what: str) -> str:
        ping_path = require_program("ping", "iputils-ping")
        result = run_program(in_namespace(namespace, [ping_path, "-c", str(PING_COUNT), "-W", str(PING_REPLY_TIMEOUT_S),
                                                      *arguments]),
                             timeout_s=PING_COUNT * (PING_REPLY_TIMEOUT_S + 1) + 10)
        output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
        transmitted, received, rtt = parse_ping(output)
        if result.returncode != 0 or received != PING_COUNT:
            raise TestFailure(f"{what}: {received} of {transmitted} echo replies (exit {result.returncode}):\n{output}")
        return f"{what}: {received}/{transmitted} echo replies, rtt min/avg/max/mdev {rtt} ms"

    def get(host: str, host_field: str, path: str, target: str | None = None) -> bytes:
        """GET `target` (default: `path` percent-encoded) inside the namespace; the body of a 200,
        compared with the site's file `path`."""
        target = target or "/" + urllib.parse.quote(path, safe="/")
        result = run_program(in_namespace(namespace, [python, "-c", FETCH_SCRIPT, host, "80", host_field, target]),
                             timeout_s=60)
        if result.returncode != 0:
            raise TestFailure(f"GET http://{host_field}{target} in the namespace: exit {result.returncode}: "
                              f"{result.stderr.decode(errors='replace').strip()}")
        status_line, _, body = result.stdout.partition(b"\n")
        if status_line != b"200":
            raise TestFailure(f"GET http://{host_field}{target}: status {status_line!r}")
        expect_equal_bytes(body, files[path], f"GET http://{host_field}{target}")
        return body

    def fetch(host: str, host_field: str, peer_pattern: str) -> str:
        offset = len(machine.text)
        body = get(host, host_field, "index.html", "/")
        logged = machine.wait_for(r'INFO\s+(' + peer_pattern + r')\S* "GET /" 200', 5, start=offset)
        return (f"GET http://{host_field}/ → 200, {len(body)} bytes equal to the site's index.html; "
                f"access log peer {logged[1]}")

    def link_local_ready() -> None:
        # The host end's own link-local address must exist and have finished DAD before ping -6
        # can use it as the source.
        deadline = time.monotonic() + LINK_LOCAL_WAIT_S
        while True:
            shown = run_program(["ip", "-n", namespace, "-6", "address", "show", "dev", TAP_INTERFACE, "scope", "link"],
                                timeout_s=10).stdout.decode(errors="replace")
            if "inet6 fe80::" in shown and "tentative" not in shown:
                return
            if time.monotonic() > deadline:
                raise TestFailure(f"the tap device has no usable link-local address after {LINK_LOCAL_WAIT_S} s:"
                                  f"\n{shown}")
            time.sleep(0.1)

    def ipv6_available() -> None:
        if not Path("/proc/sys/net/ipv6").exists():
            raise TestSkipped("IPv6 is disabled in this kernel (/proc/sys/net/ipv6 missing)")
        link_local_ready()

    def ping6() -> str:
        ipv6_available()
        return ping(["-6", f"{GUEST_LINK_LOCAL}%{TAP_INTERFACE}"], f"ping -6 {GUEST_LINK_LOCAL}%{TAP_INTERFACE}")

    def http6() -> str:
        ipv6_available()
        return fetch(f"{GUEST_LINK_LOCAL}%{TAP_INTERFACE}", f"[{GUEST_LINK_LOCAL}]", r"\[?fe80::[0-9a-f:]+")

    def offload() -> str:
        line = machine.wait_for(r"virtio-net on [^\n]*offload: ([^\n]*)\n", 5)
        if line[1].strip() != "TCP checksums and segmentation":
            raise TestFailure(f"QEMU's virtio-net on tap offers checksum and segmentation offload, but the "
                              f"driver reports: {line[0].strip()}")
        return line[0].strip()

    def files4() -> str:
        started = time.monotonic()
        total = sum(len(get(TAP_GUEST_ADDRESS, TAP_GUEST_ADDRESS, path)) for path in files)
        seconds = time.monotonic() - started
        return f"{len(files)} files, {total} bytes, each equal to the site's ({seconds:.2f} s)"

    def large6() -> str:
        ipv6_available()
        started = time.monotonic()
        body = get(f"{GUEST_LINK_LOCAL}%{TAP_INTERFACE}", f"[{GUEST_LINK_LOCAL}]", testsite.LARGE_FILE)
        seconds = time.monotonic() - started
        return (f"GET /{testsite.LARGE_FILE} over IPv6: {len(body) >> 20} MiB equal to the site's in "
                f"{seconds:.2f} s")

    def round_trip() -> str:
        ping_path = require_program("ping", "iputils-ping")
        result = run_program(in_namespace(namespace, [
            ping_path, "-c", str(ROUND_TRIP_PINGS), "-i", str(ROUND_TRIP_INTERVAL_S), "-W", str(PING_REPLY_TIMEOUT_S),
            TAP_GUEST_ADDRESS]), timeout_s=ROUND_TRIP_PINGS * (PING_REPLY_TIMEOUT_S + 1) + 10)
        output = result.stdout.decode(errors="replace")
        times_ms = [float(value) for value in re.findall(r"time=([0-9.]+) ms", output)]
        if len(times_ms) != ROUND_TRIP_PINGS:
            raise TestFailure(f"{len(times_ms)} of {ROUND_TRIP_PINGS} echo replies:\n{output}")
        shown = ", ".join(f"{value:.1f}" for value in times_ms)
        if max(times_ms) > ROUND_TRIP_LIMIT_MS:
            raise TestFailure(f"round trips {shown} ms with requests {ROUND_TRIP_INTERVAL_S:g} s apart: some over "
                              f"{ROUND_TRIP_LIMIT_MS} ms, so the guest answered only when its loop woke by itself: "
                              f"the virtio-net interrupt is not reaching it (with an edge-triggered SPI, a line "
                              f"that went high before the GIC enabled it and was never acknowledged at the "
                              f"device stays high and gives no new edge)")
        return f"{ROUND_TRIP_PINGS} echo requests {ROUND_TRIP_INTERVAL_S:g} s apart: round trips {shown} ms"

    def no_fault() -> str:
        assert_no_fault(machine)
        if machine.exit_code() is not None:
            raise TestFailure(f"QEMU exited ({machine.exit_code()}){machine.describe_tail()}")
        return "no exception or panic on the console; QEMU still running"

    run.require("ready", ready)
    run.check("offload", offload)
    run.check("ping4", lambda: ping([TAP_GUEST_ADDRESS], f"ping {TAP_GUEST_ADDRESS}"))
    run.check("http4", lambda: fetch(TAP_GUEST_ADDRESS, TAP_GUEST_ADDRESS, re.escape(TAP_HOST_ADDRESS)))
    run.check("ping6", ping6)
    run.check("http6", http6)
    run.check("files4", files4)
    run.check("large6", large6)
    run.check("round_trip", round_trip)
    run.check("no_fault", no_fault)
