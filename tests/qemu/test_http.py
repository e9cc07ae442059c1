"""HTTP end to end over QEMU's user networking, on the generated test site (testsite.py), once
per virtio-net transport (virtio-mmio and PCIe): every file byte for byte, index pages, odd names,
HEAD, 404, 32 concurrent clients, keep-alive, pipelining, `Connection: close`, and curl."""

from __future__ import annotations

import hashlib
import re
import http.client
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

from framework import GroupAborted, GroupRun, group
from harness import (
    LISTENING_PATTERN,
    Machine,
    TestFailure,
    TestSkipped,
    VirtOptions,
    assert_no_fault,
    boot_virt,
    median,
    wait_for_http_ok,
)
from testsite import LARGE_FILE, ROOT_INDEX, SUB_INDEX, SiteFile, site_files

BOOT_TIMEOUT_S = 30
# Longest wait for one read from the server (a socket timeout, not a whole transfer).
REQUEST_TIMEOUT_S = 20
HEALTH_PROBE_TIMEOUT_S = 10
CONCURRENT_CLIENTS = 32
REQUESTS_PER_CLIENT = 4
# The concurrent requests must all be served within this (they take about two seconds).
CONCURRENT_BUDGET_S = 30
KEEPALIVE_REQUESTS = 10

HTTP_CHECKS = (
    "ready", "transport", "files", "large_file", "index_pages", "odd_names", "head",
    "not_found", "concurrent", "keepalive", "pipelining", "connection_close", "curl", "access_log",
    "tls_hello", "no_fault",
)


@dataclass
class Reply:
    """One parsed response."""

    status: int
    headers: dict[str, str]  # lower-case names; a repeated field keeps its last value
    body: bytes


def fetch(port: int, method: str, target: str, headers: dict[str, str] | None = None) -> Reply:
    """One request on a fresh connection through http.client."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
    try:
        connection.request(method, target, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Reply(response.status, {name.lower(): value for name, value in response.getheaders()}, body)
    finally:
        connection.close()


def expect_file(reply: Reply, file: SiteFile, what: str) -> None:
    """Status 200, Content-Length and SHA-256 as in the site."""
    if reply.status != 200:
        raise TestFailure(f"{what}: status {reply.status}, expected 200")
    length = reply.headers.get("content-length")
    if length != str(len(file.content)):
        raise TestFailure(f"{what}: Content-Length {length!r}, expected {len(file.content)}")
    if len(reply.body) != len(file.content) or hashlib.sha256(reply.body).hexdigest() != file.sha256:
        raise TestFailure(
            f"{what}: body of {len(reply.body)} bytes has SHA-256 {hashlib.sha256(reply.body).hexdigest()[:16]}…, "
            f"expected {len(file.content)} bytes with {file.sha256[:16]}…"
        )


def exchange_until_close(port: int, request: bytes, timeout_s: float = REQUEST_TIMEOUT_S) -> bytes:
    """Sends raw bytes, then reads until the server closes; fails if it does not close within
    `timeout_s`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as connection:
        connection.sendall(request)
        received = bytearray()
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure(f"the server did not close the connection within {timeout_s:g} s "
                                  f"({len(received)} bytes received)")
            connection.settimeout(remaining)
            try:
                chunk = connection.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return bytes(received)
            received += chunk


def parse_replies(data: bytes, methods: list[str]) -> list[Reply]:
    """Splits a byte stream into one response per request method (a HEAD response has no body,
    RFC 9110 §9.3.2; every other response here carries Content-Length). Fails on leftovers."""
    replies = []
    position = 0
    for method in methods:
        head_end = data.find(b"\r\n\r\n", position)
        if head_end < 0:
            raise TestFailure(f"response {len(replies) + 1} of {len(methods)}: no complete head in "
                              f"{data[position:position + 200]!r}")
        lines = data[position:head_end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise TestFailure(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body_start = head_end + 4
        length = 0 if method == "HEAD" else int(headers.get("content-length", "0"))
        body = data[body_start:body_start + length]
        if len(body) != length:
            raise TestFailure(f"response {len(replies) + 1}: body {len(body)} of {length} bytes")
        replies.append(Reply(int(parts[1]), headers, body))
        position = body_start + length
    if position != len(data):
        raise TestFailure(f"{len(data) - position} unexpected bytes after the last response: "
                          f"{data[position:position + 80]!r}")
    return replies


def http_checks(run: GroupRun, machine: Machine, transport_line: str, access_log: bool) -> None:
    """The HTTP checks against one booted machine; `access_log` says whether the kernel was
    booted with its access log on."""
    port = machine.http_port
    files = site_files()
    by_path = {file.path: file for file in files}

    def ready() -> str:
        listening = machine.wait_for(LISTENING_PATTERN, BOOT_TIMEOUT_S)
        seconds = wait_for_http_ok(machine, BOOT_TIMEOUT_S)
        return f"ready {listening['ready_us']} us after reset; first 200 after {seconds:.2f} s"

    def transport() -> str:
        return machine.wait_for(transport_line, 5)[0].strip()

    def all_files() -> str:
        total = 0
        for file in files:
            if file.path == LARGE_FILE:
                continue
            expect_file(fetch(port, "GET", file.url_path), file, f"GET {file.url_path}")
            total += len(file.content)
        return f"{len(files) - 1} files, {total} bytes, SHA-256 and Content-Length match"

    def large_file() -> str:
        file = by_path[LARGE_FILE]
        started = time.monotonic()
        expect_file(fetch(port, "GET", file.url_path), file, f"GET {file.url_path}")
        seconds = time.monotonic() - started
        return f"{len(file.content) >> 20} MiB in {seconds:.2f} s ({len(file.content) / seconds / 1e6:.1f} MB/s)"

    def index_pages() -> str:
        root = SiteFile("index.html", ROOT_INDEX)
        sub = SiteFile("sub/index.html", SUB_INDEX)
        expect_file(fetch(port, "GET", "/"), root, "GET /")
        expect_file(fetch(port, "GET", "/sub/"), sub, "GET /sub/")
        expect_file(fetch(port, "GET", "/sub/index.html"), sub, "GET /sub/index.html")
        # A directory without its slash is redirected to it, so relative links resolve
        # (RFC 9110 §15.4.2).
        redirect = fetch(port, "GET", "/sub")
        location = redirect.headers.get("location", "")
        if redirect.status != 301 or not location.endswith("/sub/"):
            raise TestFailure(f"GET /sub: status {redirect.status}, Location {location!r}; expected 301 to /sub/")
        content_type = fetch(port, "GET", "/").headers.get("content-type", "")
        if not content_type.startswith("text/html"):
            raise TestFailure(f"GET /: Content-Type {content_type!r}, expected text/html")
        return "/ and /sub/ serve their index.html (text/html), /sub → 301 /sub/"

    def odd_names() -> str:
        # The same files through other spellings of their names: lower-case hex digits
        # (RFC 3986 §2.1: equivalent), a literal `+` (only a space in form data, not in paths),
        # a raw space is not a valid request target, so only %20.
        spellings = [
            ("/%c3%bcn%c3%afc%c3%b8d%c3%a9.txt", "\u00fcn\u00efc\u00f8d\u00e9.txt"),
            ("/a+b.txt", "a+b.txt"),
            ("/a%2bb.txt", "a+b.txt"),
            ("/100%25.txt", "100%.txt"),
            ("/with%20space.txt", "with space.txt"),
            ("/a/b/c/deep.txt", "a/b/c/deep.txt"),
            ("/a/./b/../b/c/deep.txt", "a/b/c/deep.txt"),
        ]
        for target, path in spellings:
            expect_file(fetch(port, "GET", target), by_path[path], f"GET {target}")
        return f"{len(spellings)} spellings (percent-encoded UTF-8, %2B and literal +, %25, %20, dot segments)"

    def head() -> str:
        checked = []
        for path in ("one-mib.bin", "empty.bin", "\u00fcn\u00efc\u00f8d\u00e9.txt"):
            file = by_path[path]
            request = (f"HEAD {file.url_path} HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n").encode()
            data = exchange_until_close(port, request)
            (reply,) = parse_replies(data, ["HEAD"])
            if reply.status != 200:
                raise TestFailure(f"HEAD {file.url_path}: status {reply.status}")
            if reply.headers.get("content-length") != str(len(file.content)):
                raise TestFailure(f"HEAD {file.url_path}: Content-Length {reply.headers.get('content-length')!r}, "
                                  f"expected {len(file.content)}")
            checked.append(f"{len(file.content)} B")
        return f"200, Content-Length as GET, no body bytes ({', '.join(checked)})"

    def not_found() -> str:
        for target in ("/no/such/file.txt", "/one-kib.bin.missing", "/a/b/missing/"):
            reply = fetch(port, "GET", target)
            if reply.status != 404:
                raise TestFailure(f"GET {target}: status {reply.status}, expected 404")
            length = reply.headers.get("content-length")
            if length is not None and int(length) != len(reply.body):
                raise TestFailure(f"GET {target}: Content-Length {length} but {len(reply.body)} body bytes")
        return "404 for 3 missing targets"

    def concurrent() -> str:
        # QEMU's user networking listens on the forwarded host port with a backlog of one
        # (`ss -ltn` shows Send-Q 1), so a burst of simultaneous connects overflows the host's
        # accept queue and Linux retries them with exponential backoff, whatever the guest does.
        # The connections are therefore opened one after another (each proven by a first
        # response); then all clients send their requests at once over the open connections.
        rotation = [by_path[path] for path in ("one-mib.bin", "one-kib.bin", "a/b/c/deep.txt",
                                               "\u00fcn\u00efc\u00f8d\u00e9.txt", "empty.bin")]
        opener = by_path["one-byte.bin"]
        connections: list[http.client.HTTPConnection] = []
        errors: list[str] = []
        latencies_s: list[float] = []  # request sent → response complete, per request
        lock = threading.Lock()

        def exchange(connection: http.client.HTTPConnection, file: SiteFile, what: str) -> None:
            connection.request("GET", file.url_path)
            response = connection.getresponse()
            body = response.read()
            expect_file(Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body), file, what)
            if response.will_close:
                raise TestFailure(f"{what}: the server announced it will close the connection")

        try:
            for number in range(CONCURRENT_CLIENTS):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CONCURRENT_BUDGET_S)
                connections.append(connection)
                exchange(connection, opener, f"client {number} opening request")
            opened_sockets = [connection.sock for connection in connections]
            barrier = threading.Barrier(CONCURRENT_CLIENTS)

            def client(number: int) -> None:
                connection = connections[number]
                try:
                    barrier.wait(timeout=30)
                    for request in range(REQUESTS_PER_CLIENT):
                        file = rotation[(number + request) % len(rotation)]
                        sent = time.monotonic()
                        exchange(connection, file, f"client {number} request {request + 1} GET {file.url_path}")
                        with lock:
                            latencies_s.append(time.monotonic() - sent)
                    if connection.sock is not opened_sockets[number]:
                        raise TestFailure("the connection was reopened (the server closed it)")
                except Exception as error:
                    with lock:
                        errors.append(f"client {number}: {type(error).__name__}: {error}")

            started = time.monotonic()
            threads = [threading.Thread(target=client, args=(number,), daemon=True)
                       for number in range(CONCURRENT_CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=max(0.1, started + CONCURRENT_BUDGET_S + 5 - time.monotonic()))
            seconds = time.monotonic() - started
        finally:
            for connection in connections:
                connection.close()
        ordered = sorted(latencies_s)
        distribution = (f"latency median {median(ordered) * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
                        if ordered else "no request completed")
        expected = CONCURRENT_CLIENTS * REQUESTS_PER_CLIENT
        if any(thread.is_alive() for thread in threads):
            errors.append(f"clients still running after {CONCURRENT_BUDGET_S} s")
        if errors or len(ordered) != expected:
            raise TestFailure(f"{len(ordered)} of {expected} requests correct in {seconds:.1f} s ({distribution}); "
                              f"{len(errors)} errors, first: " + "; ".join(errors[:3]))
        return (f"{CONCURRENT_CLIENTS} open connections × {REQUESTS_PER_CLIENT} simultaneous requests all correct "
                f"in {seconds:.2f} s; {distribution}")

    def keepalive() -> str:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        try:
            first_socket = None
            for request in range(KEEPALIVE_REQUESTS):
                file = files[request % len(files)]
                if file.path == LARGE_FILE:
                    file = by_path["one-kib.bin"]
                connection.request("GET", file.url_path)
                response = connection.getresponse()
                body = response.read()
                expect_file(Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body),
                            file, f"request {request + 1} on one connection")
                if response.will_close:
                    raise TestFailure(f"request {request + 1}: the server announced it will close the connection")
                # http.client reconnects silently when the server closed; a new socket object
                # would show that.
                if first_socket is None:
                    first_socket = connection.sock
                elif connection.sock is not first_socket:
                    raise TestFailure(f"request {request + 1} went over a new connection")
            return f"{KEEPALIVE_REQUESTS} requests on one connection (local port {first_socket.getsockname()[1]})"
        finally:
            connection.close()

    def pipelining() -> str:
        # RFC 9112 §9.3.2: a client may send several requests without waiting; the responses come
        # back in order.
        plan = [("GET", by_path["one-kib.bin"]), ("HEAD", by_path["one-mib.bin"]),
                ("GET", by_path["a/b/c/deep.txt"]), ("GET", by_path["empty.bin"])]
        request = b""
        for index, (method, file) in enumerate(plan):
            close = "Connection: close\r\n" if index == len(plan) - 1 else ""
            request += f"{method} {file.url_path} HTTP/1.1\r\nHost: e2e\r\n{close}\r\n".encode()
        replies = parse_replies(exchange_until_close(port, request), [method for method, _ in plan])
        for index, ((method, file), reply) in enumerate(zip(plan, replies)):
            if method == "HEAD":
                if reply.status != 200 or reply.headers.get("content-length") != str(len(file.content)):
                    raise TestFailure(f"pipelined HEAD: status {reply.status}, headers {reply.headers}")
            else:
                expect_file(reply, file, f"pipelined request {index + 1}")
        return f"{len(plan)} pipelined requests (GET, HEAD, GET, GET) answered in order"

    def connection_close() -> str:
        file = by_path["one-kib.bin"]
        request = f"GET {file.url_path} HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n".encode()
        started = time.monotonic()
        (reply,) = parse_replies(exchange_until_close(port, request, timeout_s=10), ["GET"])
        expect_file(reply, file, "GET with Connection: close")
        tokens = [token.strip().lower() for token in reply.headers.get("connection", "").split(",")]
        if "close" not in tokens:
            raise TestFailure(f"response Connection header {reply.headers.get('connection')!r}, expected close")
        return f"Connection: close answered and the server closed after {time.monotonic() - started:.2f} s"

    def curl() -> str:
        curl_path = shutil.which("curl")
        if curl_path is None:
            raise TestSkipped("curl is not installed")
        checked = []
        for path in ("one-mib.bin", "\u00fcn\u00efc\u00f8d\u00e9.txt"):
            file = by_path[path]
            result = subprocess.run(
                [curl_path, "-sS", "--fail", "--max-time", "60", f"http://127.0.0.1:{port}{file.url_path}"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=90, check=False,
            )
            if result.returncode != 0:
                raise TestFailure(f"curl {file.url_path}: exit {result.returncode}: {result.stderr.decode(errors='replace').strip()}")
            if hashlib.sha256(result.stdout).hexdigest() != file.sha256:
                raise TestFailure(f"curl {file.url_path}: {len(result.stdout)} bytes, SHA-256 differs")
            checked.append(file.url_path)
        return "curl -sS fetched " + ", ".join(checked) + " intact"

    def access_log_lines() -> str:
        marker = "/a/b/c/deep.txt"
        offset = len(machine.text)
        expect_file(fetch(port, "GET", marker), by_path["a/b/c/deep.txt"], f"GET {marker}")
        if access_log:
            line = machine.wait_for(r"[^\n]*" + re.escape(marker) + r"[^\n]*\n", 5, start=offset)
            return f"logged: {line[0].strip()!r}"
        # The log line would be printed before the response is sent; give the UART a moment.
        time.sleep(0.5)
        if marker in machine.text[offset:]:
            raise TestFailure(f"access_log=off, yet the console names {marker}{machine.describe_tail()}")
        return "access_log=off: no request line on the console"

    def tls_hello() -> str:
        # The first bytes of a TLS ClientHello (RFC 8446 §5.1: record type 22, version 3.1, then
        # the length and the handshake header), as a client that speaks HTTPS to port 80 sends
        # them. No line end ever comes; nginx answers 400 at once, and so must we, rather than
        # 408 after the request-head timeout (10 s, beyond this exchange's 5 s bound).
        hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]) + bytes(32)
        started = time.monotonic()
        answer = exchange_until_close(port, hello, timeout_s=5)
        elapsed = time.monotonic() - started
        status_line = answer.split(b"\r\n", 1)[0]
        if not status_line.startswith(b"HTTP/1.1 400 "):
            raise TestFailure(f"answer to a TLS ClientHello: {status_line!r}, expected HTTP/1.1 400")
        return f"{status_line.decode(errors='replace')} and close after {elapsed:.2f} s"

    def no_fault() -> str:
        assert_no_fault(machine)
        if machine.exit_code() is not None:
            raise TestFailure(f"QEMU exited ({machine.exit_code()}){machine.describe_tail()}")
        return "no exception or panic on the console; QEMU still running"

    def check_then_probe(name: str, function) -> None:
        # After a failed check, one quick request tells a wrong answer from a dead server; the
        # checks after a dead server would only wait out their timeouts one by one.
        if run.check(name, function):
            return
        try:
            wait_for_http_ok(machine, HEALTH_PROBE_TIMEOUT_S)
        except TestFailure:
            raise GroupAborted(f"{run.name}.{name} failed and the server no longer answers GET /") from None

    run.require("ready", ready)
    check_then_probe("transport", transport)
    check_then_probe("files", all_files)
    check_then_probe("large_file", large_file)
    check_then_probe("index_pages", index_pages)
    check_then_probe("odd_names", odd_names)
    check_then_probe("head", head)
    check_then_probe("not_found", not_found)
    check_then_probe("concurrent", concurrent)
    check_then_probe("keepalive", keepalive)
    check_then_probe("pipelining", pipelining)
    check_then_probe("connection_close", connection_close)
    check_then_probe("curl", curl)
    check_then_probe("access_log", access_log_lines)
    check_then_probe("tls_hello", tls_hello)
    run.check("no_fault", no_fault)


@group("http_mmio", checks=HTTP_CHECKS, images=("e2e",), slow_checks=("large_file",))
def http_mmio(run: GroupRun) -> None:
    """virtio-net over virtio-mmio (modern, `force-legacy=false`)."""
    options = VirtOptions(image=run.context.image("e2e"), transport="mmio")
    with boot_virt(options, run.context.log_path("http_mmio")) as machine:
        http_checks(run, machine, r"virtio-net on virtio-mmio at 0x[0-9a-f]+[^\n]*\n", access_log=True)


@group("http_pci", checks=HTTP_CHECKS, images=("e2e",), slow=True)
def http_pci(run: GroupRun) -> None:
    """virtio-net over PCIe (`virtio-net-pci` on the ECAM host bridge)."""
    options = VirtOptions(image=run.context.image("e2e"), transport="pci", bootargs="access_log=off")
    with boot_virt(options, run.context.log_path("http_pci")) as machine:
        http_checks(run, machine, r"virtio-net on PCIe [^\n]*\n", access_log=False)
