"""Load and attack (issue 14, "Hold the crowd"): hostile and heavy clients against a server on a
tap device in a private network namespace, while a probe — a normal client — sends `GET /` every
0.5 s and counts the answers that are a 200 within 2 s.

The attacks are real tools from Debian: `slowhttptest` (slowloris, slow read, the range attack
known as Apache killer, slow POST) and `wrk`; the idle-connection flood, the SYN flood (raw IPv4
SYNs from addresses in the namespace's subnet that no host holds, so the server's SYN-ACKs go
nowhere) and the probe are `crowd_agent.py`, run inside the namespace. Every tool runs in its own
process group with a time limit and is killed when its phase ends; every loop is bounded.

The same code serves the QEMU test group `attack` (test_attack.py: short phases, `CI_PROFILE`)
and the full-length runs by hand (tests/attack/crowd.py: `FULL_PROFILE`, ours and Linux + nginx
side by side). Nothing here decides which server it talks to: a `Server` names the namespace, the
address and, for ours, the console to read the `s` statistics from.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import (BANNER_PATTERN, EXCEPTION_PATTERN, PANIC_PATTERN, Machine, TestFailure, TestSkipped,
                     die_with_parent, run_program)
from netns import TAP_INTERFACE, in_namespace

AGENT = Path(__file__).resolve().with_name("crowd_agent.py")

# The probe (issue 14): a GET every 0.5 s, answered means a 200 within 2 s.
PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 2.0
PROBE_PATH = "/"
# Files of the e2e site (testsite.py) the attacks ask for.
SMALL_FILE = "/one-kib.bin"
MEDIUM_FILE = "/one-mib.bin"
# Spoofed SYN sources: in the namespace's /24, held by no host (the host end is .1, the guest .15).
SYN_SOURCE_FIRST = "10.0.5.100"
SYN_SOURCE_LAST = "10.0.5.250"
SYN_RATE = 1000
# A half-open socket must not hold a slot longer than this (issue 14).
HALF_OPEN_LIMIT_S = 3.0
# How long a console `s` answer may take.
STATISTICS_TIMEOUT_S = 15
# A tool that ends early (the server closed all its connections) is started again while its
# phase lasts, at most this often.
MAX_RESTARTS = 40
# Extra time every subprocess gets beyond its planned length before it is killed.
GRACE_S = 20


@dataclass(frozen=True)
class Profile:
    """How long and how hard: the CI group's short phases or the issue's full-length ones."""

    name: str
    ramp_s: float        # the attack runs this long before the probe starts
    during_s: float      # probing while the attack runs
    after_s: float       # probing after the attack stopped
    required: float      # share of probes that must be answered, during and after
    slowloris: tuple[int, ...]
    slow_connections: int  # slow read, range, slow POST
    idle_connections: int
    syn_seconds: float   # the SYN flood's length (probing during all but the ramp)
    wrk_seconds: float
    wrk_connections: int
    wrk_small_connections: int  # at the small memory size


CI_PROFILE = Profile("ci", ramp_s=3, during_s=10, after_s=5, required=0.90, slowloris=(400, 2000),
                     slow_connections=400, idle_connections=2000, syn_seconds=15, wrk_seconds=10,
                     wrk_connections=4096, wrk_small_connections=1024)
FULL_PROFILE = Profile("full", ramp_s=5, during_s=30, after_s=30, required=0.95, slowloris=(400, 2000),
                       slow_connections=1000, idle_connections=10000, syn_seconds=30, wrk_seconds=30,
                       wrk_connections=4096, wrk_small_connections=1024)


@dataclass
class Server:
    """What the attacks talk to: `address`:80 inside `namespace`; `machine` is our kernel's QEMU
    (its console answers `s` with the server statistics), None for a server without them."""

    name: str
    namespace: str
    address: str
    log_directory: Path
    machine: Machine | None = None
    port: int = 80

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


# ---------------------------------------------------------------------------------------------
# The probe


@dataclass
class ProbeResult:
    """One probe phase: every probe's outcome, in the order sent."""

    records: list[dict] = field(default_factory=list)
    error: str = ""

    @property
    def total(self) -> int:
        return len(self.records)

    @property
    def answered(self) -> int:
        return sum(1 for record in self.records
                   if record["status"] == 200 and not record["error"] and record["seconds"] <= PROBE_TIMEOUT_S)

    @property
    def max_seconds(self) -> float:
        return max((record["seconds"] for record in self.records), default=0.0)

    def rate(self) -> float:
        return self.answered / self.total if self.total else 0.0

    def describe(self) -> str:
        if not self.total:
            return f"no probe ran ({self.error})"
        return f"{self.answered}/{self.total} ({100 * self.rate():.0f} %), max {self.max_seconds:.2f} s"

    def failures(self, limit: int = 4) -> str:
        """The first unanswered probes: when they left and what happened."""
        failed = [record for record in self.records
                  if not (record["status"] == 200 and not record["error"] and record["seconds"] <= PROBE_TIMEOUT_S)]
        shown = "; ".join(f"at {record['sent']:.1f} s: {record['error'] or 'status ' + str(record['status'])}"
                          for record in failed[:limit])
        return shown + (f"; … {len(failed) - limit} more" if len(failed) > limit else "")


def probe(server: Server, seconds: float, label: str = "") -> ProbeResult:
    """Probes for `seconds` (a GET every 0.5 s) from inside the namespace; blocks until done.
    With `label`, every probe's record is kept in `<server>-probe-<label>.jsonl` in the logs."""
    count = max(1, int(round(seconds / PROBE_INTERVAL_S)))
    command = in_namespace(server.namespace, [
        sys.executable, str(AGENT), "probe", server.address, str(server.port), PROBE_PATH,
        "--interval", str(PROBE_INTERVAL_S), "--count", str(count), "--timeout", str(PROBE_TIMEOUT_S)])
    result = ProbeResult()
    try:
        completed = run_program(command, timeout_s=seconds + PROBE_TIMEOUT_S + GRACE_S)
    except TestFailure as failure:
        result.error = str(failure)
        return result
    for line in completed.stdout.decode(errors="replace").split("\n"):
        with contextlib.suppress(json.JSONDecodeError):
            record = json.loads(line)
            if isinstance(record, dict) and "sent" in record:
                result.records.append(record)
    if label:
        (server.log_directory / f"{server.name}-probe-{label}.jsonl").write_text(
            "".join(json.dumps(record) + "\n" for record in result.records))
    if not result.records:
        result.error = (f"the probe printed nothing (exit {completed.returncode}): "
                        f"{completed.stderr.decode(errors='replace').strip()[-300:]}")
    return result


def required_count(total: int, share: float) -> int:
    return math.ceil(total * share - 1e-9)


# ---------------------------------------------------------------------------------------------
# Tools in the background


class Background:
    """A tool inside the namespace in its own process group, its output appended to `log`;
    with `restart`, started again whenever it ends by itself before `stop()` (bounded)."""

    def __init__(self, argv: list[str], log: Path, restart: bool = False) -> None:
        self.argv = argv
        self.log = log
        self.restart = restart
        self.runs = 0
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"")

    def start(self) -> Background:
        self._launch()
        if self.restart:
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        return self

    def _launch(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            with open(self.log, "ab") as log:
                log.write(("\n$ " + " ".join(self.argv) + "\n").encode())
                log.flush()
                self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True, preexec_fn=die_with_parent)
            self.runs += 1

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self.process
            if process is not None and process.poll() is not None and self.runs < MAX_RESTARTS:
                self._launch()
            self._stopping.wait(0.2)

    def wait(self, timeout_s: float) -> bool:
        """Waits for the tool to end by itself; True if it did."""
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, gentle: bool = False) -> None:
        """Ends the tool: SIGTERM first if `gentle` (the agents then print their summary), then
        SIGKILL to its whole process group; reaps it."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(5)
        with self._lock:
            process = self.process
        if process is None:
            return
        if gentle and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise TestSkipped(f"{name} is not installed (Debian package {package}; tools/install-tools.sh {name})")
    return path


# ---------------------------------------------------------------------------------------------
# Server-side figures


STATISTICS_PATTERN = re.compile(r"connections open (\d+), sockets (\d+)\nServerStatistics \{([^}]*)\}")
TRANSMIT_FULL_PATTERN = re.compile(r"(\d+) times the transmit queue was full")


def statistics(server: Server) -> dict[str, int] | None:
    """Our kernel's counters from its console (`s`): the ServerStatistics fields plus
    `connections_open` and `sockets`; None for a server without a console to ask."""
    if server.machine is None:
        return None
    offset = len(server.machine.text)
    server.machine.send_keys(b"s")
    match = server.machine.wait_for(STATISTICS_PATTERN, STATISTICS_TIMEOUT_S, start=offset)
    counters = {name: int(value) for name, value in re.findall(r"(\w+): (\d+)", match[3])}
    counters["connections_open"] = int(match[1])
    counters["sockets"] = int(match[2])
    full = TRANSMIT_FULL_PATTERN.search(server.machine.text, match.end())
    if full:
        counters["transmit_queue_full"] = int(full[1])
    return counters


# Counters worth naming in a check's line when they moved.
REPORTED_COUNTERS = ("connections_accepted", "connections_refused", "requests_answered", "request_head_timeouts",
                     "keep_alive_timeouts", "connections_aborted", "idle_connections_reclaimed",
                     "unstarted_connections_reclaimed", "syns_dropped_at_limit", "syn_cookies_sent",
                     "invalid_cookie_acks", "cookie_handshakes_failed",
                     "transmit_queue_full")


def counter_changes(before: dict[str, int] | None, after: dict[str, int] | None) -> str:
    if before is None or after is None:
        return ""
    if any(after[name] < before[name] for name in after if name in before and name.endswith(
            ("accepted", "answered", "sent", "timeouts", "aborted", "abandoned", "at_limit"))):
        return f"server: counters restarted (the kernel booted again); now {after['connections_open']} open"
    moved = [f"{name} +{after[name] - before.get(name, 0)}" for name in REPORTED_COUNTERS
             if name in after and after[name] != before.get(name, 0)]
    return "server: " + (", ".join(moved) if moved else "no counter moved") + f"; {after['connections_open']} open"


def console_offset(server: Server) -> int:
    """Where the console is now (0 for a server without one), for `console_trouble`."""
    return len(server.machine.text) if server.machine is not None else 0


def console_trouble(server: Server, offset: int) -> list[str]:
    """A panic, an exception report or a new boot banner on our kernel's console since `offset`:
    the server fell over (and, with panic=reset, came back) during the attack."""
    if server.machine is None:
        return []
    text = server.machine.text[offset:]
    found = []
    for pattern, what in ((PANIC_PATTERN, "panicked"), (EXCEPTION_PATTERN, "took an exception"),
                          (BANNER_PATTERN, "booted again")):
        match = pattern.search(text)
        if match:
            line = text[match.start():].split("\n", 1)[0].strip()
            found.append(f"the kernel {what} during the attack ({len(pattern.findall(text))}×: {line[:160]!r})")
    return found


def tap_drops(server: Server) -> int | None:
    """Frames for the guest that the host's tap queue dropped (QEMU did not read them in time)."""
    try:
        shown = run_program(["ip", "-n", server.namespace, "-s", "-j", "link", "show", TAP_INTERFACE], timeout_s=10)
        return int(json.loads(shown.stdout)[0]["stats64"]["tx"]["dropped"])
    except (TestFailure, ValueError, KeyError, IndexError, TypeError):
        return None


# ---------------------------------------------------------------------------------------------
# One attack: ramp, probe during, stop, probe after


@dataclass
class AttackResult:
    """What one attack measured."""

    name: str
    during: ProbeResult
    after: ProbeResult
    tool: str = ""                  # the tool's own summary
    server: str = ""                # counter changes (ours)
    extra_failures: list[str] = field(default_factory=list)  # attack-specific conditions that failed
    extra: str = ""                 # attack-specific figures
    runs: int = 1

    def line(self) -> str:
        parts = []
        for phase, outcome in (("during", self.during), ("after", self.after)):
            if not outcome.total and not outcome.error:
                continue  # a phase this measurement has not got (no probe during wrk)
            text = f"{phase} {outcome.describe()}"
            if outcome.total and outcome.answered < outcome.total:
                text += f" (unanswered: {outcome.failures(2)})"
            parts.append(text)
        parts += [text for text in (self.tool, self.extra, self.server) if text]
        return "; ".join(parts)


def slowhttptest_summary(text: str) -> str:
    """Peak `connected` and the exit reasons from slowhttptest's status screens."""
    plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
    connected = [int(value) for value in re.findall(r"connected:\s+(\d+)", plain)]
    errors = [int(value) for value in re.findall(r"error:\s+(\d+)", plain)]
    exits = re.findall(r"Exit status:\s*([^\n]+)", plain)
    unavailable = len(re.findall(r"service available:\s+NO", plain))
    summary = f"slowhttptest: peak {max(connected, default=0)} connected, {max(errors, default=0)} errors"
    if exits:
        summary += f", ended by itself {len(exits)}× ({exits[-1].strip()})"
    if unavailable:
        summary += f", its own probe said unavailable {unavailable}×"
    return summary


def run_phases(server: Server, profile: Profile, name: str, tool: Background, gentle_stop: bool = False,
               during_s: float | None = None) -> tuple[ProbeResult, ProbeResult, float]:
    """Starts `tool`, waits the ramp, probes during, stops the tool, probes after. Returns the
    two probe results and the monotonic time the tool was stopped."""
    tool.start()
    try:
        time.sleep(profile.ramp_s)
        during = probe(server, profile.during_s if during_s is None else during_s, f"{name}-during")
    finally:
        tool.stop(gentle=gentle_stop)
    stopped = time.monotonic()
    after = probe(server, profile.after_s, f"{name}-after")
    return during, after, stopped


def assess(result: AttackResult, profile: Profile) -> str:
    """PASS details, or TestFailure naming what fell short."""
    problems = []
    for phase, outcome in (("during", result.during), ("after", result.after)):
        need = required_count(outcome.total, profile.required)
        if outcome.total == 0 or outcome.answered < need:
            problems.append(f"{phase} the attack {outcome.answered}/{outcome.total} probes answered with 200 within "
                            f"{PROBE_TIMEOUT_S:g} s, need ≥ {need} ({100 * profile.required:.0f} %)"
                            + ("" if outcome.total else f": {outcome.error}"))
    problems += result.extra_failures
    if problems:
        raise TestFailure("; ".join(problems) + f" — {result.line()}")
    return result.line()


def slowhttptest_attack(server: Server, profile: Profile, name: str, arguments: list[str]) -> AttackResult:
    require_tool("slowhttptest", "slowhttptest")
    length_s = int(profile.ramp_s + profile.during_s + GRACE_S)
    # stdbuf: its status screens go to a file, and a killed slowhttptest would lose what stdio held.
    argv = in_namespace(server.namespace, ["stdbuf", "-oL", "slowhttptest", *arguments, "-l", str(length_s), "-p", "2"])
    tool = Background(argv, server.log_directory / f"{server.name}-{name}.txt", restart=True)
    before, drops_before, offset = statistics(server), tap_drops(server), console_offset(server)
    during, after, _ = run_phases(server, profile, name, tool)
    result = AttackResult(name, during, after, tool=slowhttptest_summary(tool.output()) + f", {tool.runs} run(s)",
                          server=counter_changes(before, statistics(server)), runs=tool.runs,
                          extra_failures=console_trouble(server, offset))
    result.extra = describe_drops(drops_before, tap_drops(server))
    return result


def describe_drops(before: int | None, after: int | None) -> str:
    if before is None or after is None or after == before:
        return ""
    return f"tap: {after - before} frames to the guest dropped by the host queue"


def slowloris(server: Server, profile: Profile, connections: int) -> AttackResult:
    """Partial request heads, a header line every 3 s (slowhttptest -H)."""
    return slowhttptest_attack(server, profile, f"slowloris-{connections}", [
        "-H", "-c", str(connections), "-r", str(min(connections, 1000)), "-i", "3", "-x", "24",
        "-u", f"{server.url}/"])


def slow_read(server: Server, profile: Profile) -> AttackResult:
    """A 1 MiB file requested three times per connection and read 32 bytes at a time every
    5 s through a receive window of 512-1024 bytes (slowhttptest -X)."""
    return slowhttptest_attack(server, profile, "slow-read", [
        "-X", "-c", str(profile.slow_connections), "-r", str(min(profile.slow_connections, 1000)),
        "-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3", "-u", f"{server.url}{MEDIUM_FILE}"])


def range_attack(server: Server, profile: Profile) -> AttackResult:
    """`Range: bytes=0-,5-0,5-1,…,5-2000` on a 1 MiB file (Apache killer, CVE-2011-3192;
    slowhttptest -R), restarted while the phase lasts."""
    return slowhttptest_attack(server, profile, "range", [
        "-R", "-c", str(profile.slow_connections), "-r", str(min(profile.slow_connections, 1000)),
        "-a", "5", "-b", "2000", "-u", f"{server.url}{MEDIUM_FILE}"])


def slow_post(server: Server, profile: Profile) -> AttackResult:
    """POST with an 8 KiB Content-Length whose body trickles in every 3 s (R-U-Dead-Yet;
    slowhttptest -B)."""
    return slowhttptest_attack(server, profile, "slow-post", [
        "-B", "-c", str(profile.slow_connections), "-r", str(min(profile.slow_connections, 1000)),
        "-i", "3", "-x", "24", "-s", "8192", "-u", f"{server.url}/"])


def agent_summary(text: str) -> dict:
    for line in reversed(text.split("\n")):
        with contextlib.suppress(json.JSONDecodeError):
            record = json.loads(line)
            if isinstance(record, dict) and "summary" in record:
                return record["summary"]
    return {}


def idle_flood(server: Server, profile: Profile) -> AttackResult:
    """Connections that send nothing at all, opened at 1,000 a second and held."""
    count = profile.idle_connections
    hold_s = profile.ramp_s + profile.during_s + GRACE_S
    argv = in_namespace(server.namespace, [sys.executable, str(AGENT), "idle", server.address, str(server.port),
                                           "--count", str(count), "--rate", "1000", "--hold", str(hold_s),
                                           "--open-timeout", str(profile.ramp_s + profile.during_s)])
    tool = Background(argv, server.log_directory / f"{server.name}-idle-{count}.txt")
    before, drops_before, offset = statistics(server), tap_drops(server), console_offset(server)
    during, after, _ = run_phases(server, profile, f"idle-{count}", tool, gentle_stop=True)
    summary = agent_summary(tool.output())
    result = AttackResult(f"idle-{count}", during, after, server=counter_changes(before, statistics(server)),
                          extra_failures=console_trouble(server, offset))
    if summary:
        result.tool = (f"idle: {summary['established']} of {summary['wanted']} established in "
                       f"{summary['open_seconds']} s, {summary['closed_by_server']} closed by the server"
                       + (f" (first at {summary['first_closed_at']} s)" if summary.get("first_closed_at") else "")
                       + (f", failed {summary['failed']}" if summary.get("failed") else ""))
        if summary["established"] < count:
            result.extra_failures.append(f"only {summary['established']} of {count} idle connections were established")
    else:
        result.tool = "idle: no summary from the agent"
        result.extra_failures.append(f"the idle-connection agent printed no summary ({tool.log})")
    result.extra = describe_drops(drops_before, tap_drops(server))
    return result


def syn_flood(server: Server, profile: Profile) -> AttackResult:
    """1,000 SYN/s from 10.0.5.100-250, which nobody holds: every one gets a SYN-ACK that goes
    nowhere (ours: a SYN cookie, nothing kept; Linux: a half-open socket, or a cookie once its SYN
    queue is full). 3 s after the last SYN no connection may be open (our kernel's `s`): none of
    them held a slot longer than that."""
    duration_s = profile.syn_seconds
    argv = in_namespace(server.namespace, [sys.executable, str(AGENT), "synflood", server.address, str(server.port),
                                           "--source-first", SYN_SOURCE_FIRST, "--source-last", SYN_SOURCE_LAST,
                                           "--rate", str(SYN_RATE), "--duration", str(duration_s)])
    tool = Background(argv, server.log_directory / f"{server.name}-syn-flood.txt")
    before, drops_before, offset = statistics(server), tap_drops(server), console_offset(server)
    tool.start()
    midway: dict[str, int] | None = None
    try:
        time.sleep(profile.ramp_s)
        # Probing during the flood, ending before it does; the guest's counters in between.
        during_s = max(PROBE_INTERVAL_S, duration_s - profile.ramp_s - 1)
        during = probe(server, during_s, "syn-flood-during")
        with contextlib.suppress(TestFailure):
            midway = statistics(server)
        finished = tool.wait(duration_s + GRACE_S)
    finally:
        tool.stop(gentle=True)
    ended = time.monotonic()
    summary = agent_summary(tool.output())
    failures = []
    if not finished:
        failures.append(f"the SYN sender did not end within {duration_s + GRACE_S:g} s")
    failures += console_trouble(server, offset)
    if not summary:
        failures.append(f"the SYN sender printed no summary ({tool.log})")
    # The last SYN left at most ~10 ms before the sender ended.
    time.sleep(max(0.0, ended + HALF_OPEN_LIMIT_S - time.monotonic()))
    settled = statistics(server)
    after = probe(server, profile.after_s, "syn-flood-after")
    result = AttackResult("syn-flood", during, after, extra_failures=failures,
                          server=counter_changes(before, statistics(server)))
    if summary:
        result.tool = (f"SYN flood: {summary['sent']} SYNs from {summary['sources']} in {summary['seconds']} s "
                       f"({summary['rate']}/s), {summary['errors']} send errors")
    extra = []
    if midway is not None:
        extra.append(f"{midway['connections_open']} connections open during the flood")
    if settled is not None:
        extra.append(f"{settled['connections_open']} open {HALF_OPEN_LIMIT_S:g} s after the last SYN")
        if settled["connections_open"] != 0:
            failures.append(f"{settled['connections_open']} connections still open {HALF_OPEN_LIMIT_S:g} s after the "
                            f"last SYN (half-open sockets held a slot longer than {HALF_OPEN_LIMIT_S:g} s)")
        if before is not None and summary and settled["syn_cookies_sent"] - before["syn_cookies_sent"] \
                + settled["syns_dropped_at_limit"] - before["syns_dropped_at_limit"] == 0:
            failures.append("the guest counted no SYN cookie sent and no dropped SYN: did the flood reach it?")
    drops = describe_drops(drops_before, tap_drops(server))
    result.extra = "; ".join(extra + ([drops] if drops else []))
    return result


WRK_LINE_PATTERNS = {
    "requests": re.compile(r"(\d+) requests in ([0-9.]+)(\w+)"),
    "rate": re.compile(r"Requests/sec:\s+([0-9.]+)"),
    "socket": re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"),
    "non2xx": re.compile(r"Non-2xx or 3xx responses: (\d+)"),
    "latency": re.compile(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)"),
}


def wrk_load(server: Server, profile: Profile, connections: int, label: str) -> AttackResult:
    """`wrk -t1 -c N` keep-alive on a 1 KiB file; every request must succeed (no socket error,
    no non-2xx). No probe runs during it: at max_connections a newcomer would take the place of a
    wrk connection. The probe runs after."""
    require_tool("wrk", "wrk")
    seconds = profile.wrk_seconds
    log = server.log_directory / f"{server.name}-wrk-{label}.txt"
    before, drops_before, offset = statistics(server), tap_drops(server), console_offset(server)
    argv = in_namespace(server.namespace, ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
                                           f"{server.url}{SMALL_FILE}"])
    tool = Background(argv, log).start()
    finished = tool.wait(seconds + 60)
    tool.stop()
    text = tool.output()
    # The server's lingering closes of wrk's connections are not the probe's business.
    after = probe(server, profile.after_s, f"wrk-{label}-after")
    failures = console_trouble(server, offset)
    if not finished:
        failures.append(f"wrk did not end within {seconds + 60:g} s")
    requests = WRK_LINE_PATTERNS["requests"].search(text)
    rate = WRK_LINE_PATTERNS["rate"].search(text)
    socket_errors = WRK_LINE_PATTERNS["socket"].search(text)
    non2xx = WRK_LINE_PATTERNS["non2xx"].search(text)
    latency = WRK_LINE_PATTERNS["latency"].search(text)
    error_counts = [int(value) for value in socket_errors.groups()] if socket_errors else [0, 0, 0, 0]
    bad = int(non2xx[1]) if non2xx else 0
    if requests is None or rate is None:
        failures.append(f"no wrk summary ({log}): {text.strip()[-300:]!r}")
    elif int(requests[1]) == 0:
        failures.append("wrk completed no request")
    if sum(error_counts) or bad:
        failures.append(f"wrk errors: connect {error_counts[0]}, read {error_counts[1]}, write {error_counts[2]}, "
                        f"timeout {error_counts[3]}, non-2xx {bad}")
    tool_text = (f"wrk -c{connections} {int(seconds)} s: {requests[1] if requests else '?'} requests, "
                 f"{rate[1] if rate else '?'} requests/s, latency avg {latency[1] if latency else '?'} "
                 f"max {latency[3] if latency else '?'}, errors connect/read/write/timeout "
                 f"{'/'.join(str(value) for value in error_counts)}, non-2xx {bad}")
    result = AttackResult(f"wrk-{label}", ProbeResult(), after, tool=tool_text, extra_failures=failures,
                          server=counter_changes(before, statistics(server)))
    result.extra = describe_drops(drops_before, tap_drops(server))
    return result


def assess_load(result: AttackResult, profile: Profile) -> str:
    """For wrk: no errors, and the probe answered after the load."""
    problems = list(result.extra_failures)
    need = required_count(result.after.total, profile.required)
    if result.after.total == 0 or result.after.answered < need:
        problems.append(f"after the load {result.after.answered}/{result.after.total} probes answered, need ≥ {need}"
                        + (f": {result.after.failures()}" if result.after.total else f": {result.after.error}"))
    line = "; ".join(text for text in (result.tool, f"after {result.after.describe()}", result.extra, result.server)
                     if text)
    if problems:
        raise TestFailure("; ".join(problems) + f" — {line}")
    return line


def prepare_namespace(namespace: str) -> None:
    """The client side's own limits, inside the namespace only: the whole ephemeral port range
    and reuse of TIME-WAIT ports for new connections, so that thousands of connections per attack,
    one attack after another, never run out of local ports (a client limit, not the server's)."""
    for setting in ("net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1"):
        run_program(in_namespace(namespace, ["sysctl", "-q", "-w", setting]), timeout_s=10)


def wait_until_serving(server: Server, timeout_s: float) -> float:
    """Polls with single probes until one is answered; returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout_s
    last = ""
    while time.monotonic() < deadline:
        outcome = probe(server, PROBE_INTERVAL_S)
        if outcome.total and outcome.answered == outcome.total:
            return time.monotonic() - started
        last = outcome.failures() or outcome.error
        if server.machine is not None and server.machine.exit_code() is not None:
            break
        time.sleep(0.3)
    raise TestFailure(f"{server.name} at {server.url} did not answer within {timeout_s:g} s ({last})")
