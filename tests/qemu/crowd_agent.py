#!/usr/bin/env python3
"""The client side of the load-and-attack tests (issue 14), run *inside* the test's network
namespace (`ip netns exec NS python3 crowd_agent.py ...`), where the guest is reachable over the
tap device. Python 3.11 standard library only; every loop is bounded by a count and a deadline.

    crowd_agent.py probe HOST PORT PATH --interval S --count N --timeout S
        a normal client: a new connection with `GET PATH` every S seconds (each in its own
        thread, so a slow answer does not delay the next one); prints one JSON line per probe
        ({"sent": s since start, "status": int|null, "seconds": float, "error": str}) in the
        order they were sent, then a JSON summary line {"summary": ...}.
    crowd_agent.py idle HOST PORT --count N --rate R --hold S
        opens N connections (at most R new ones a second) that never send a byte, holds them
        S seconds (or until SIGTERM), notes which the server closed; prints a JSON summary.
    crowd_agent.py synflood DEST PORT --source-first A --source-last B --rate R --duration S
        raw IPv4 SYNs (IP_HDRINCL) from the addresses A..B, which no host on the link holds, so
        the server's SYN-ACKs go nowhere (its ARP requests for them get no answer); R a second
        for S seconds; prints a JSON summary.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import random
import resource
import select
import signal
import socket
import struct
import sys
import threading
import time

# Bytes read from one probe answer at most (the probe asks for a small page).
PROBE_READ_LIMIT = 1 << 20
# Set by SIGTERM: the idle and SYN loops end early and still print their summary.
STOP = threading.Event()


def raise_open_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (thousands of sockets); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            pass
    return soft


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# probe


def content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def probe_once(host: str, port: int, path: str, timeout_s: float) -> tuple[int | None, float, str]:
    """One GET on a new connection: (status or None, seconds until the whole answer, error)."""
    started = time.monotonic()
    deadline = started + timeout_s
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bareserve-probe\r\n"
               "Connection: close\r\n\r\n").encode()
    data = b""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.sendall(request)
            while len(data) < PROBE_READ_LIMIT:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, time.monotonic() - started, f"no complete answer within {timeout_s:g} s ({len(data)} bytes)"
                connection.settimeout(remaining)
                chunk = connection.recv(65536)
                if not chunk:
                    break
                data += chunk
                end = data.find(b"\r\n\r\n")
                if end >= 0:
                    length = content_length(data[:end])
                    if length is not None and len(data) >= end + 4 + length:
                        break
    except socket.timeout:
        return None, time.monotonic() - started, f"timeout after {timeout_s:g} s ({len(data)} bytes)"
    except OSError as error:
        return None, time.monotonic() - started, f"{type(error).__name__}: {error}"
    seconds = time.monotonic() - started
    end = data.find(b"\r\n\r\n")
    status_line = data.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ")
    if end < 0 or len(parts) < 2 or not parts[1].isdigit():
        return None, seconds, f"no HTTP answer ({len(data)} bytes: {data[:40]!r})"
    status = int(parts[1])
    length = content_length(data[:end])
    if length is not None and len(data) < end + 4 + length:
        return status, seconds, f"body cut short: {len(data) - end - 4} of {length} bytes"
    return status, seconds, ""


def run_probe(options: argparse.Namespace) -> int:
    results: list[dict | None] = [None] * options.count
    threads = []
    started = time.monotonic()

    def one(index: int, sent: float) -> None:
        status, seconds, error = probe_once(options.host, options.port, options.path, options.timeout)
        results[index] = {"sent": round(sent, 3), "status": status, "seconds": round(seconds, 4), "error": error}

    for index in range(options.count):
        # Fixed schedule: probe i leaves at i × interval, whatever the earlier ones do.
        delay = started + index * options.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=one, args=(index, time.monotonic() - started), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(options.timeout + 5)
    answered = 0
    latencies = []
    for index, result in enumerate(results):
        if result is None:
            result = {"sent": round(index * options.interval, 3), "status": None, "seconds": options.timeout,
                      "error": "probe thread did not finish"}
            results[index] = result
        emit(result)
        if result["status"] == 200 and not result["error"] and result["seconds"] <= options.timeout:
            answered += 1
        latencies.append(result["seconds"])
    emit({"summary": {"answered": answered, "total": options.count,
                      "max_seconds": round(max(latencies, default=0.0), 4),
                      "elapsed": round(time.monotonic() - started, 3)}})
    return 0


# ---------------------------------------------------------------------------------------------
# idle connections


def run_idle(options: argparse.Namespace) -> int:
    limit = raise_open_file_limit()
    count = min(options.count, max(0, limit - 64))
    poller = select.poll()
    pending: dict[int, socket.socket] = {}
    established: dict[int, socket.socket] = {}
    failed: dict[str, int] = {}
    closed_by_server = 0
    first_closed_at: float | None = None
    started = time.monotonic()
    # Opening: at most `rate` a second, the whole phase bounded by `open_timeout`.
    open_deadline = started + options.open_timeout
    opened = 0
    while (opened < count or pending) and time.monotonic() < open_deadline and not STOP.is_set():
        due = min(count, int((time.monotonic() - started) * options.rate) + 1)
        while opened < due:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex((options.host, options.port))
            opened += 1
            if code in (0, errno.EINPROGRESS):
                pending[sock.fileno()] = sock
                poller.register(sock.fileno(), select.POLLOUT)
            else:
                failed[errno.errorcode.get(code, str(code))] = failed.get(errno.errorcode.get(code, str(code)), 0) + 1
                sock.close()
        for fd, _event in poller.poll(10):
            sock = pending.pop(fd, None)
            if sock is None:
                continue
            poller.unregister(fd)
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                established[fd] = sock
            else:
                name = errno.errorcode.get(code, str(code))
                failed[name] = failed.get(name, 0) + 1
                sock.close()
    for sock in pending.values():
        failed["ETIMEDOUT(open phase)"] = failed.get("ETIMEDOUT(open phase)", 0) + 1
        poller.unregister(sock.fileno())
        sock.close()
    opened_seconds = time.monotonic() - started
    peak = len(established)
    # Holding: nothing is sent; a readable socket means the server answered or closed it.
    for fd in established:
        poller.register(fd, select.POLLIN)
    hold_deadline = time.monotonic() + options.hold
    answered_bytes = 0
    while established and time.monotonic() < hold_deadline and not STOP.is_set():
        for fd, _event in poller.poll(max(1, min(500, int((hold_deadline - time.monotonic()) * 1000)))):
            sock = established.get(fd)
            if sock is None:
                continue
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if chunk:
                answered_bytes += len(chunk)
                continue
            poller.unregister(fd)
            established.pop(fd).close()
            closed_by_server += 1
            if first_closed_at is None:
                first_closed_at = time.monotonic() - started
    still_open = len(established)
    for sock in established.values():
        sock.close()
    emit({"summary": {"wanted": options.count, "fd_limit": limit, "established": peak,
                      "failed": failed, "open_seconds": round(opened_seconds, 2),
                      "closed_by_server": closed_by_server,
                      "first_closed_at": None if first_closed_at is None else round(first_closed_at, 2),
                      "bytes_received": answered_bytes, "still_open": still_open}})
    return 0


# ---------------------------------------------------------------------------------------------
# SYN flood


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_packet(source: bytes, destination: bytes, source_port: int, port: int, sequence: int,
               identification: int) -> bytes:
    """An IPv4 + TCP SYN with an MSS option (RFC 791, RFC 9293), checksums filled in."""
    options = struct.pack("!BBH", 2, 4, 1460)  # MSS 1460
    offset = (5 + len(options) // 4) << 4
    tcp = struct.pack("!HHIIBBHHH", source_port, port, sequence, 0, offset, 0x02, 64240, 0, 0) + options
    pseudo = source + destination + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), identification, 0x4000, 64,
                         socket.IPPROTO_TCP, 0, source, destination)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + tcp


def run_synflood(options: argparse.Namespace) -> int:
    first = int(ipaddress.IPv4Address(options.source_first))
    last = int(ipaddress.IPv4Address(options.source_last))
    destination = ipaddress.IPv4Address(options.destination).packed
    sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    generator = random.Random(14)
    sent = errors = 0
    started = time.monotonic()
    deadline = started + options.duration
    total = int(options.rate * options.duration)
    # Batches every 10 ms keep the rate even without a sleep per packet.
    while sent + errors < total and time.monotonic() < deadline + 1 and not STOP.is_set():
        due = min(total, int((time.monotonic() - started) * options.rate) + 1)
        while sent + errors < due:
            index = sent + errors
            source = ipaddress.IPv4Address(first + index % (last - first + 1)).packed
            packet = syn_packet(source, destination, 1024 + generator.randrange(64000), options.port,
                                generator.getrandbits(32), index & 0xFFFF)
            try:
                sender.sendto(packet, (options.destination, 0))
                sent += 1
            except OSError:
                errors += 1
        time.sleep(0.01)
    seconds = time.monotonic() - started
    emit({"summary": {"sent": sent, "errors": errors, "seconds": round(seconds, 2),
                      "rate": round(sent / seconds, 1) if seconds else 0.0,
                      "sources": f"{options.source_first}-{options.source_last}"}})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    probe = commands.add_parser("probe")
    probe.add_argument("host")
    probe.add_argument("port", type=int)
    probe.add_argument("path")
    probe.add_argument("--interval", type=float, default=0.5)
    probe.add_argument("--count", type=int, required=True)
    probe.add_argument("--timeout", type=float, default=2.0)
    idle = commands.add_parser("idle")
    idle.add_argument("host")
    idle.add_argument("port", type=int)
    idle.add_argument("--count", type=int, required=True)
    idle.add_argument("--rate", type=float, default=500)
    idle.add_argument("--hold", type=float, required=True)
    idle.add_argument("--open-timeout", type=float, default=30)
    flood = commands.add_parser("synflood")
    flood.add_argument("destination")
    flood.add_argument("port", type=int)
    flood.add_argument("--source-first", required=True)
    flood.add_argument("--source-last", required=True)
    flood.add_argument("--rate", type=float, default=1000)
    flood.add_argument("--duration", type=float, required=True)
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda _number, _frame: STOP.set())
    if options.command == "probe":
        return run_probe(options)
    if options.command == "idle":
        return run_idle(options)
    return run_synflood(options)


if __name__ == "__main__":
    sys.exit(main())
