#!/usr/bin/env python3
r"""Guest instructions per request of a web server in QEMU (TCG), counted by QEMU's plugins.

Requests per second under emulation move 10-40 % from one run to the next on a shared host; the
instructions the guest executes for the same work move far less (see --repeat). They are what a
real aarch64 core would run, and QEMU's TCG plugin `libinsn.so` counts them exactly
(tools/bench/build_plugins.sh builds it). Figures, each printed as one line `NAME VALUE [note]`:

  boot_insns            reset -> the first answer (less that one request's cost, when known)
  idle_insns_per_s      what the guest runs per second of no traffic (timers, idle loop)
  keepalive_insns       per GET of /1k.bin, sequential, on one keep-alive connection
  close_insns           per GET of /1k.bin with a new TCP connection each (Connection: close)
  large_insns_per_KiB   per KiB of one GET of /10m.bin
  idle_connections_insns COUNT VALUE   per keep-alive GET of /1k.bin while COUNT other
                        connections (each made one request) stay open

With --repeat N each workload boot is made N times and the median printed, the N values after
it as `[runs: A B C]`: the base boot repeats to within 0.1 %, but a workload's own count was
seen to move by up to 13 % between runs (25 % between the extremes of three runs with 4,000 idle
connections open), presumably with the host's load: how many frames and timer deadlines the
guest finds per poll depends on how fast the host runs it.

How: the plugin's count covers a whole QEMU process, boot included. So each figure is the
difference of two boots, one with the workload and one without (the "base" run), less what the
guest would have run idle over the extra wall time the workload took: that idle rate comes
from a third boot that only waits (IDLE_SECONDS), compared with the base run. Every run waits
SETTLE_SECONDS before and after its workload, so late boot work and the last segments' ACKs
fall inside both runs alike. The idle connections' figure compares two boots with the same
idle connections open (its base run opens them too).

  guest_insns.py --plugins DIR --port PORT --start CMD [--host 127.0.0.1]
                 [--keepalive-requests 2000] [--close-requests 1000]
                 [--only keepalive,close,large,idle_connections] [--idle-connections 16,4000]
                 [--repeat 1]
  guest_insns.py --plugins DIR --port PORT --start CMD --profile ELF [--top 15] [...]

--profile ELF (the kernel's ELF with its symbols) runs the keep-alive workload under
`libhotblocks.so` instead (every translated block's execution count) and prints, as
tab-separated lines `insns_per_request share_percent function`, where the guest's instructions
per request went: per function, a run with the requests less a run without them, divided by
the requests (so boot is left out; the idle ticks over the requests' wall time stay in).

CMD is a shell command that runs QEMU in the foreground with the server on HOST:PORT and passes
QEMU the words of $PLUGIN_ARGS (e.g. `... ./run-qemu.sh -- $PLUGIN_ARGS`; for the Linux
baseline `QEMU_EXTRA="$PLUGIN_ARGS" ./run-linux.sh nginx --fg`). The site must hold /1k.bin
and /10m.bin. Run it inside a network namespace (`ip netns exec NS ...`) to reach a guest on
tap there. Every wait is bounded; QEMU is stopped with SIGTERM (the plugin writes its count
as QEMU exits) and its process group killed if it has not gone after STOP_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

SETTLE_SECONDS = 2.0
IDLE_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
LARGE_TIMEOUT_SECONDS = 300.0
SMALL_PATH, LARGE_PATH = "/1k.bin", "/10m.bin"


class MeasurementError(Exception):
    """A run that could not be counted (no answer, no count from the plugin)."""


# ---- HTTP client: just enough for GETs of known files, Content-Length framed ---------------
def get(connection: socket.socket, path: str, close: bool) -> int:
    """One GET on `connection`; reads the whole response and returns the body's length."""
    close_header = "Connection: close\r\n" if close else ""
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{close_header}\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        data = connection.recv(65536)
        if not data:
            raise OSError("the server closed the connection before the response head")
        received += data
    head, _, body = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    if status_line.split()[1:2] != [b"200"]:
        raise OSError(f"GET {path}: {status_line.decode(errors='replace')}")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if length is None:
        raise OSError(f"GET {path}: no Content-Length")
    body_bytes, remaining = int(length.group(1)), int(length.group(1)) - len(body)
    while remaining > 0:
        data = connection.recv(min(remaining, 1 << 20))
        if not data:
            raise OSError(f"GET {path}: closed with {remaining} bytes of the body missing")
        remaining -= len(data)
    return body_bytes


def get_once(host: str, port: int, path: str, timeout_s: float = REQUEST_TIMEOUT_SECONDS) -> int:
    """A GET on a new connection that asks the server to close it."""
    with socket.create_connection((host, port), timeout=timeout_s) as connection:
        connection.settimeout(timeout_s)
        return get(connection, path, close=True)


# ---- one boot -----------------------------------------------------------------------------
@dataclass
class Run:
    """What one boot gave: the plugin's output and how long the guest ran after it answered."""

    plugin_output: str
    seconds_after_ready: float

    def instructions(self) -> int:
        totals = re.findall(r"total insns: (\d+)", self.plugin_output)
        if not totals:
            raise MeasurementError("libinsn.so printed no 'total insns' (is $PLUGIN_ARGS passed to QEMU?)")
        return int(totals[-1])


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the command's process group, then wait until all of it is gone: QEMU writes the
    plugin's output while it exits, possibly after the shell that started it."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        process.poll()
        time.sleep(0.1)
    else:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT_SECONDS)


class Counter:
    """Boots the server once per measurement and counts what its guest executed."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.host, self.port = options.host, options.port

    def wait_ready(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + self.options.boot_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise MeasurementError(f"the start command exited ({process.returncode}) before the server answered")
            try:
                get_once(self.host, self.port, SMALL_PATH, timeout_s=2)
                return
            except OSError:
                time.sleep(0.05)
        raise MeasurementError(f"no answer on {self.host}:{self.port} within {self.options.boot_timeout} s")

    def boot(self, workload: Callable[[], None], idle_connections: int = 0, plugin: str = "libinsn.so") -> Run:
        """Boot, wait for the first answer, open `idle_connections`, settle, run `workload`,
        settle, stop."""
        if self.host.startswith("127."):
            # An answer from a server left running would be counted as this one's.
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                raise MeasurementError(f"something already accepts connections on {self.host}:{self.port}")
            except OSError:
                pass
        log = tempfile.NamedTemporaryFile(prefix="guest-insns-", suffix=".log", delete=False)
        log.close()
        plugin_path = os.path.join(self.options.plugins, plugin)
        environment = dict(os.environ, PLUGIN_ARGS=f"-plugin {plugin_path},inline=on -d plugin -D {log.name}")
        process = subprocess.Popen(self.options.start, shell=True, env=environment, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        idle: list[socket.socket] = []
        try:
            self.wait_ready(process)
            ready = time.monotonic()
            idle = open_idle_connections(self.host, self.port, idle_connections)
            time.sleep(SETTLE_SECONDS)
            workload()
            time.sleep(SETTLE_SECONDS)
            if idle:
                # The crowd is still served: none of it was closed to make room.
                get(idle[-1], SMALL_PATH, close=False)
            seconds_after_ready = time.monotonic() - ready
        finally:
            stop(process)
            for connection in idle:
                connection.close()
        with open(log.name, encoding="utf-8", errors="replace") as file:
            output = file.read()
        os.unlink(log.name)
        return Run(output, seconds_after_ready)

    # ---- the workloads ----------------------------------------------------------------------
    def keepalive(self, requests: int, reconnects: list[int]) -> Callable[[], None]:
        """`requests` sequential GETs on one connection. A server may end a keep-alive connection
        after so many requests (nginx: keepalive_requests 1000); the client then opens another,
        as browsers and wrk do, and the reopenings are reported."""
        def workload() -> None:
            connection = socket.create_connection((self.host, self.port), timeout=REQUEST_TIMEOUT_SECONDS)
            connection.settimeout(REQUEST_TIMEOUT_SECONDS)
            done = 0
            try:
                while done < requests:
                    try:
                        get(connection, SMALL_PATH, close=False)
                        done += 1
                    except OSError:
                        connection.close()
                        reconnects.append(done)
                        if len(reconnects) > requests // 100 + 2:
                            raise
                        connection = socket.create_connection((self.host, self.port), timeout=REQUEST_TIMEOUT_SECONDS)
                        connection.settimeout(REQUEST_TIMEOUT_SECONDS)
            finally:
                connection.close()
        return workload

    def close(self, requests: int) -> Callable[[], None]:
        def workload() -> None:
            for _ in range(requests):
                get_once(self.host, self.port, SMALL_PATH)
        return workload

    def large(self, body_bytes: list[int]) -> Callable[[], None]:
        def workload() -> None:
            body_bytes.append(get_once(self.host, self.port, LARGE_PATH, timeout_s=LARGE_TIMEOUT_SECONDS))
        return workload


def open_idle_connections(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` connections that each made one keep-alive request and stay open, as a browser's do."""
    connections = []
    try:
        for _ in range(count):
            connection = socket.create_connection((host, port), timeout=REQUEST_TIMEOUT_SECONDS)
            connections.append(connection)
            connection.settimeout(REQUEST_TIMEOUT_SECONDS)
            get(connection, SMALL_PATH, close=False)
    except BaseException:
        for connection in connections:
            connection.close()
        raise
    return connections


def say(message: str) -> None:
    print(f"[guest_insns] {message}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def show(name: str, values: list[float], note: str, digits: int = 0) -> float:
    """Prints `NAME MEDIAN [runs: ...] NOTE` (the runs only when there are several); returns the median."""
    value = median(values)
    runs = f" [runs: {' '.join(f'{run:.{digits}f}' for run in values)}]" if len(values) > 1 else ""
    print(f"{name} {value:.{digits}f}{runs} {note}".rstrip(), flush=True)
    return value


def figures(counter: Counter, options: argparse.Namespace, only: set[str]) -> None:
    """Prints each figure as soon as it is known (a later failure keeps the earlier ones); each
    workload boot --repeat times, the median shown (see the header: why)."""
    repeat = options.repeat
    say("base run (boot, settle, stop)")
    base = counter.boot(lambda: None)
    say("idle run (boot, settle, wait, stop)")
    idle = counter.boot(lambda: time.sleep(IDLE_SECONDS))
    idle_rate = max(0.0, (idle.instructions() - base.instructions())
                    / (idle.seconds_after_ready - base.seconds_after_ready))

    def beyond(run: Run, reference: Run) -> float:
        """The run's instructions less the reference boot's and the idle ticks of its extra time."""
        return (run.instructions() - reference.instructions()
                - idle_rate * (run.seconds_after_ready - reference.seconds_after_ready))

    show("idle_insns_per_s", [idle_rate], "")
    one_request = None
    if "keepalive" in only:
        requests, reconnects = options.keepalive_requests, []
        per_request = []
        for number in range(1, repeat + 1):
            say(f"keep-alive run {number}/{repeat}: {requests} requests on one connection")
            per_request.append(beyond(counter.boot(counter.keepalive(requests, reconnects)), base) / requests)
        show("keepalive_insns", per_request, f"{requests} requests, {len(reconnects)} reconnections in {repeat} run(s)")
    if "close" in only:
        requests, per_request = options.close_requests, []
        for number in range(1, repeat + 1):
            say(f"close run {number}/{repeat}: {requests} requests, a new connection each")
            per_request.append(beyond(counter.boot(counter.close(requests)), base) / requests)
        one_request = show("close_insns", per_request, f"{requests} requests")
    # The readiness probe was one close-type request: not part of booting.
    boot = base.instructions() - idle_rate * base.seconds_after_ready - (one_request or 0)
    show("boot_insns", [boot], "less one close request" if one_request else "with the first request")
    if "large" in only:
        per_kibibyte = []
        for number in range(1, repeat + 1):
            body_bytes: list[int] = []
            say(f"large run {number}/{repeat}: one GET of {LARGE_PATH}")
            run = counter.boot(counter.large(body_bytes))
            per_kibibyte.append(beyond(run, base) / (body_bytes[0] / 1024))
        show("large_insns_per_KiB", per_kibibyte, f"{body_bytes[0]} bytes", digits=1)
    if "idle_connections" in only:
        requests = options.keepalive_requests
        for count in (int(value) for value in options.idle_connections.split(",")):
            say(f"idle connections {count}: a run without, then {repeat} with {requests} keep-alive requests")
            without = counter.boot(lambda: None, idle_connections=count)
            per_request = [beyond(counter.boot(counter.keepalive(requests, []), idle_connections=count), without)
                           / requests for _ in range(repeat)]
            show(f"idle_connections_insns {count}", per_request, f"{requests} requests")


# ---- profile ------------------------------------------------------------------------------
def function_symbols(elf: str) -> tuple[list[int], list[str]]:
    """Start addresses (sorted) and names of the ELF's functions, demangled, without Rust's hash."""
    listing = subprocess.run(["nm", "--demangle", "--defined-only", elf], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    symbols = []
    for line in listing.splitlines():
        fields = line.split(" ", 2)
        if len(fields) == 3 and fields[1] in "tTwW":
            symbols.append((int(fields[0], 16), re.sub(r"::h[0-9a-f]{16}$", "", fields[2])))
    symbols.sort()
    return [address for address, _ in symbols], [name for _, name in symbols]


def instructions_by_function(run: Run, starts: list[int], names: list[str]) -> dict[str, int]:
    """libhotblocks.so's lines `pc, translations, instructions in the block, executions`."""
    per_function: dict[str, int] = {}
    for match in re.finditer(r"^0x([0-9a-f]+), \d+, (\d+), (\d+)$", run.plugin_output, re.MULTILINE):
        pc, block_instructions, executions = int(match.group(1), 16), int(match.group(2)), int(match.group(3))
        index = bisect.bisect_right(starts, pc) - 1
        name = names[index] if index >= 0 else "(no symbol)"
        per_function[name] = per_function.get(name, 0) + block_instructions * executions
    if not per_function:
        raise MeasurementError("libhotblocks.so printed no blocks (is $PLUGIN_ARGS passed to QEMU?)")
    return per_function


def profile(counter: Counter, options: argparse.Namespace) -> None:
    starts, names = function_symbols(options.profile)
    requests = options.keepalive_requests
    say("profile: a run without requests (libhotblocks.so)")
    without = instructions_by_function(counter.boot(lambda: None, plugin="libhotblocks.so"), starts, names)
    say(f"profile: a run with {requests} keep-alive requests (libhotblocks.so)")
    with_requests = instructions_by_function(counter.boot(counter.keepalive(requests, []), plugin="libhotblocks.so"),
                                             starts, names)
    difference = {name: with_requests.get(name, 0) - without.get(name, 0) for name in with_requests}
    total = sum(difference.values())
    print(f"# {total / requests:,.0f} guest instructions per keep-alive request in all "
          f"({requests} requests; a run with them less one without, by function)")
    print("# insns_per_request\tshare_percent\tfunction")
    for name, instructions in sorted(difference.items(), key=lambda item: -item[1])[:options.top]:
        print(f"{instructions / requests:.0f}\t{100 * instructions / total:.1f}\t{name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugins", required=True, help="folder with libinsn.so and libhotblocks.so")
    parser.add_argument("--start", required=True, help="shell command running QEMU in the foreground")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keepalive-requests", type=int, default=2000)
    parser.add_argument("--close-requests", type=int, default=1000)
    parser.add_argument("--only", default="keepalive,close,large",
                        help="of keepalive,close,large,idle_connections (boot and idle always)")
    parser.add_argument("--idle-connections", default="16,4000")
    parser.add_argument("--repeat", type=int, default=1, help="boots per workload; the median is shown")
    parser.add_argument("--boot-timeout", type=float, default=180)
    parser.add_argument("--profile", metavar="ELF", help="instead: the keep-alive requests' cost by function")
    parser.add_argument("--top", type=int, default=15, help="functions --profile prints")
    options = parser.parse_args()
    only = set(options.only.split(",")) - {""}
    unknown = only - {"keepalive", "close", "large", "idle_connections"}
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    # One descriptor per idle connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max((int(value) for value in options.idle_connections.split(",")), default=0) + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    counter = Counter(options)
    try:
        if options.profile:
            profile(counter, options)
        else:
            figures(counter, options, only)
    except (MeasurementError, OSError) as error:
        print(f"guest_insns.py: {error}", file=sys.stderr)
        return 1
    return 0


def stop_on_terminate(signal_number: int, _frame) -> None:
    """SIGTERM (run.sh's timeout) becomes an exception, so the running boot's QEMU is stopped."""
    raise SystemExit(128 + signal_number)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_on_terminate)
    sys.exit(main())
