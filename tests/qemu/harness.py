"""QEMU process control and console matching for the end-to-end tests.

Every QEMU the suite starts goes through `Machine`: it runs in its own process group, its serial
console (the guest's PL011) is read by a thread into a text buffer, every wait is bounded by a
timeout, and `stop()` — called from `finally` by the `booted` context manager — kills the whole
group. Nothing here knows about a particular test.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

# The QEMU command lines come from tools/qemu_command.py (shared with run-qemu.sh and the bench).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import qemu_command  # noqa: E402


class TestFailure(Exception):
    """A check did not hold; the message says what was expected and what was seen."""


class TestSkipped(Exception):
    """A check cannot run here (missing optional tool, old QEMU); the message says why."""


QEMU_BINARY = qemu_command.qemu_binary()

# The kernel's banner (src/kernel/main.rs): board name, RAM, heap, timer frequency.
BANNER_PATTERN = re.compile(
    r"bareserve (?P<version>\S+) on (?P<board>.+?) — (?P<ram_mib>\d+) MiB RAM, "
    r"(?P<heap_kib>\d+) KiB heap, timer (?P<timer_hz>\d+) Hz"
)
# `listening on port 80: ready <us> us after reset (<us> us in the kernel)`.
LISTENING_PATTERN = re.compile(
    r"listening on port (?P<port>\d+): ready (?P<ready_us>\d+) us after reset"
    r"(?: \((?P<kernel_us>\d+) us in the kernel\))?"
)
# `serving http://10.0.2.15:80/ (Dhcp)` once an address is configured.
SERVING_PATTERN = re.compile(r"serving http://(?P<address>[0-9.]+):(?P<port>\d+)/")
# The start of the fault report and of the panic report (src/kernel/arch/exceptions.rs, panic.rs).
EXCEPTION_PATTERN = re.compile(r"\*\*\* EXCEPTION")
PANIC_PATTERN = re.compile(r"\*\*\* KERNEL PANIC at ")

# Log lines look like `[    0.012345] INFO  message`.
LOG_LINE_PATTERN = re.compile(r"^\[\s*(?P<seconds>\d+\.\d+)\] (?P<level>[A-Z]+)\s+(?P<message>.*)$")


# prctl(2) option: the signal a process receives when its parent dies.
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in the forked child before exec: if the runner dies without cleaning up (SIGKILL),
    the kernel sends QEMU SIGKILL too, so no QEMU outlives a killed test run (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_program(arguments: list[str], timeout_s: float = 30) -> subprocess.CompletedProcess:
    """Runs a program with no input and a time limit; fails the check if it takes longer."""
    try:
        return subprocess.run(arguments, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s,
                              check=False, preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"`{' '.join(arguments)}` still running after {timeout_s:g} s") from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it; a race
    with another process is possible but harmless: QEMU then fails to start and says so)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def qemu_available() -> bool:
    """Whether the QEMU binary is on PATH."""
    return shutil.which(QEMU_BINARY) is not None


def qemu_machines() -> str:
    """The output of `-M help` (the machine types this QEMU knows)."""
    result = subprocess.run(
        [QEMU_BINARY, "-M", "help"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout


@dataclass
class VirtOptions:
    """How to boot the QEMU `virt` machine (the same builder as run-qemu.sh's)."""

    image: Path
    bootargs: str = ""
    memory: str = "128M"
    gic_version: int = 2
    transport: str = "mmio"  # "mmio" or "pci"
    no_reboot: bool = False
    with_network: bool = True
    # A host tap device to attach instead of user networking (no port forwarding then); the
    # device must exist and be up, as in a network namespace the test created.
    tap_interface: str = ""

    def command(self, http_port: int) -> list[str]:
        """The QEMU command line (tools/qemu_command.py builds it), serial console on stdio
        (stdin → guest UART, guest UART → stdout), no monitor, no display."""
        network = "none" if not self.with_network else "tap" if self.tap_interface else "user"
        return qemu_command.virt_command(
            self.image, qemu=QEMU_BINARY, memory=self.memory, gic_version=self.gic_version,
            transport=self.transport, network=network, http_port=http_port,
            tap_interface=self.tap_interface, bootargs=self.bootargs, console="stdio",
            no_reboot=self.no_reboot)


def rpi4_command(image: Path, dtb: Path, bootargs: str = "", http_port: int = 0,
                 qemu: str | None = None) -> list[str]:
    """The QEMU `raspi4b` command line (tools/qemu_command.py), console as for virt; with
    `-nic user,hostfwd=...` to `http_port` when it is not 0 (a QEMU with the GENET model)."""
    return qemu_command.rpi4_command(
        image, dtb=dtb, qemu=qemu or QEMU_BINARY, network="user" if http_port else "none",
        http_port=http_port, bootargs=bootargs, console="stdio")


@dataclass
class Machine:
    """One running QEMU: its process, its console text, and the host port forwarded to the
    guest's port 80 (0 without a network)."""

    command: list[str]
    http_port: int
    log_path: Path
    with_stdin: bool = False
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    _console: str = ""
    _stderr: str = ""
    _condition: threading.Condition = field(default_factory=threading.Condition)
    _threads: list[threading.Thread] = field(default_factory=list)
    _eof: bool = False
    # (console length after a read, host time of that read), to date console lines.
    _arrivals: list[tuple[int, float]] = field(default_factory=list)

    def start(self) -> None:
        """Starts QEMU in a new process group with the console piped to the reader thread."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE if self.with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        for stream, is_console in ((self.process.stdout, True), (self.process.stderr, False)):
            thread = threading.Thread(target=self._read, args=(stream, is_console), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read(self, stream: typing.BinaryIO, is_console: bool) -> None:
        """Reader thread: appends what QEMU writes to the console text (or its stderr) and to
        the log file; marks the end of the console when QEMU closes it."""
        try:
            self._copy(stream, is_console)
        finally:
            if is_console:
                with self._condition:
                    self._eof = True
                    self._condition.notify_all()

    def _copy(self, stream: typing.BinaryIO, is_console: bool) -> None:
        with open(self.log_path if is_console else self.log_path.with_suffix(".stderr"), "wb") as log:
            log.write(("$ " + " ".join(self.command) + "\n").encode() if is_console else b"")
            # The UART delivers a few bytes at a time; an incremental decoder keeps a character
            # split across two reads (the banner's em dash) whole.
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            pending_carriage_return = False
            while True:
                chunk = os.read(stream.fileno(), 65536)
                text = decoder.decode(chunk, final=not chunk)
                if pending_carriage_return:
                    text = "\r" + text
                pending_carriage_return = text.endswith("\r") and bool(chunk)
                if pending_carriage_return:
                    text = text[:-1]
                if text:
                    text = text.replace("\r\n", "\n")
                    with self._condition:
                        if is_console:
                            self._console += text
                            self._arrivals.append((len(self._console), time.monotonic()))
                        else:
                            self._stderr += text
                        self._condition.notify_all()
                if not chunk:
                    break
                log.write(chunk)
                log.flush()

    @property
    def text(self) -> str:
        """Everything the console printed so far, with `\\r\\n` turned into `\\n`."""
        with self._condition:
            return self._console

    def seconds_until(self, offset: int) -> float:
        """Host seconds from QEMU's start until the console character at `offset` arrived."""
        with self._condition:
            for length, arrived in self._arrivals:
                if length > offset:
                    return arrived - self.started_at
        return float("nan")

    @property
    def stderr_text(self) -> str:
        """What QEMU itself printed on stderr."""
        with self._condition:
            return self._stderr

    def wait_for(self, pattern: re.Pattern | str, timeout_s: float, start: int = 0) -> re.Match:
        """Waits until `pattern` matches the console text at or after offset `start`; fails with
        the console tail if it does not within `timeout_s` or QEMU ends first."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                match = regex.search(self._console, start)
                if match:
                    return match
                if self._eof:
                    raise TestFailure(
                        f"QEMU ended (exit {self.exit_code()}) before /{regex.pattern}/ appeared"
                        f"{self.describe_tail()}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TestFailure(
                        f"/{regex.pattern}/ not seen within {timeout_s:g} s{self.describe_tail()}"
                    )
                self._condition.wait(min(remaining, 0.5))

    def wait_for_count(self, pattern: re.Pattern | str, count: int, timeout_s: float) -> list[re.Match]:
        """Waits until `pattern` has matched `count` times; returns all matches so far."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while True:
                matches = list(regex.finditer(self._console))
                if len(matches) >= count:
                    return matches
                if self._eof:
                    raise TestFailure(
                        f"QEMU ended (exit {self.exit_code()}) after {len(matches)} of {count} "
                        f"/{regex.pattern}/{self.describe_tail()}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TestFailure(
                        f"{len(matches)} of {count} /{regex.pattern}/ within {timeout_s:g} s"
                        f"{self.describe_tail()}"
                    )
                self._condition.wait(min(remaining, 0.5))

    def wait_exit(self, timeout_s: float) -> int:
        """Waits for QEMU to exit by itself; fails if it is still running after `timeout_s`."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"QEMU still running after {timeout_s:g} s{self.describe_tail()}") from None
        # Let the reader thread drain the pipe so `text` holds everything.
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    def exit_code(self) -> int | None:
        """QEMU's exit status, or None while it runs."""
        return None if self.process is None else self.process.poll()

    def send_keys(self, data: bytes) -> None:
        """Sends bytes to the guest's UART (QEMU's stdin)."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the QEMU process (all its threads) from /proc/PID/stat."""
        assert self.process is not None
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        # Fields after the command name (which may hold spaces) start after the last ')';
        # utime and stime are fields 14 and 15 (proc(5)), i.e. indexes 11 and 12 here.
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def describe_tail(self, lines: int = 25) -> str:
        """The last console lines and QEMU's stderr, for failure messages."""
        tail = self.text.rstrip("\n").split("\n")[-lines:]
        message = f"\n    console ({self.log_path}), last lines:\n" + "\n".join(
            "      | " + line for line in tail
        )
        stderr = self.stderr_text.strip()
        if stderr:
            message += "\n    QEMU stderr:\n" + "\n".join("      ! " + line for line in stderr.split("\n")[-10:])
        return message

    def stop(self) -> None:
        """Kills QEMU's process group (only the group this Machine started) and reaps it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        for thread in self._threads:
            thread.join(timeout=5)


@contextlib.contextmanager
def booted(command: list[str], http_port: int, log_path: Path, with_stdin: bool = False) -> Iterator[Machine]:
    """Starts QEMU and guarantees it is killed when the block ends, however it ends."""
    machine = Machine(command=command, http_port=http_port, log_path=log_path, with_stdin=with_stdin)
    try:
        machine.start()
        yield machine
    finally:
        machine.stop()


def boot_virt(options: VirtOptions, log_path: Path, with_stdin: bool = False):
    """`booted` for the virt machine with a fresh host port."""
    port = free_port() if options.with_network else 0
    return booted(options.command(port), port, log_path, with_stdin=with_stdin)


def wait_for_http_ok(machine: Machine, timeout_s: float, path: str = "/") -> float:
    """Polls `GET path` on the forwarded port until a 200 arrives; returns the host time in
    seconds from QEMU's start to that 200. QEMU's user networking accepts the host connection
    before the guest listens and then drops it, so refused, reset and empty answers are retried."""
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if machine.exit_code() is not None:
            raise TestFailure(f"QEMU exited ({machine.exit_code()}) while waiting for HTTP 200{machine.describe_tail()}")
        # Short attempts at first: a connection that slirp forwards before the guest has an
        # address waits for slirp's SYN retransmission (a second or more), which would hide
        # the real time of the first 200; a fresh connection is tried instead.
        attempt_timeout_s = 0.2 if time.monotonic() - machine.started_at < 10 else 3.0
        connection = http.client.HTTPConnection("127.0.0.1", machine.http_port, timeout=attempt_timeout_s)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return time.monotonic() - machine.started_at
            last_error = f"status {response.status}"
        except (OSError, http.client.HTTPException) as error:
            last_error = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        time.sleep(0.02)
    raise TestFailure(f"no HTTP 200 for GET {path} within {timeout_s:g} s (last: {last_error}){machine.describe_tail()}")


def parse_banner(machine: Machine, timeout_s: float) -> re.Match:
    """Waits for the banner and returns its match (groups: version, board, ram_mib, heap_kib,
    timer_hz)."""
    return machine.wait_for(BANNER_PATTERN, timeout_s)


def assert_no_fault(machine: Machine) -> None:
    """Fails if the console shows an exception or a panic report."""
    text = machine.text
    for pattern in (EXCEPTION_PATTERN, PANIC_PATTERN):
        match = pattern.search(text)
        if match:
            raise TestFailure(f"unexpected fault report: {text[match.start():match.start() + 200]!r}{machine.describe_tail()}")


def median(values: list[float]) -> float:
    """The median (mean of the middle two for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
