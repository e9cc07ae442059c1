#!/usr/bin/env python3
"""tools/bench/servers.py - how the benchmark starts, waits for and stops its servers.

run.sh calls it for every step that boots a server itself; the QEMU processes run under the QEMU
test tier's harness (tests/qemu/harness.py: `booted`, `Machine`, `wait_for_http_ok`: own process
group, every wait bounded, killed when the step ends however it ends), and our kernel's QEMU
command line comes from tools/qemu_command.py, the builder run-qemu.sh and the tests use.

    servers.py COMMON... start-command SERVER NET MEMORY LOG [EXTRA_BOOTARGS]
        the foreground command (one shell string) for measure.sh --start
    servers.py COMMON... port SERVER         the host port of SERVER on 127.0.0.1
    servers.py COMMON... wait-quiet          bounded wait for an idle host (< 20 % of a core)
    servers.py COMMON... idle                idle host CPU of each server's QEMU
    servers.py COMMON... minram              smallest -m that serves the site (ours)
    servers.py COMMON... c1024               wrk -c1024 keep-alive against each server
    servers.py COMMON... overload [--netns NS]   ours beyond max_connections and beyond its memory
    servers.py COMMON... insns --plugins DIR [--elf ELF] [--keepalive-requests N] [--close-requests N]
               [--repeat N] [--idle-connections 16,4000] [--netns NS]
        guest instructions per request (tools/bench/guest_insns.py) of ours and nginx

COMMON: --results DIR --ours-image IMG --baseline DIR --baseline-build DIR --site DIR
--port-base N --servers LIST --quiet-wait S --started EPOCH_S. Figures are appended to
DIR/results.tsv (key, server, value, runs, note), progress goes to stderr as `[bench   Ns] ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

sys.dont_write_bytecode = True
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "qemu"))
sys.path.insert(0, str(ROOT / "tools"))

import harness  # noqa: E402
import qemu_command  # noqa: E402

GUEST_MAC = "52:54:00:12:34:56"   # QEMU's default; netns-tap.sh pins it in the neighbour table
TAP_ADDRESS = "10.0.3.15"
IDLE_SETTLE_S, IDLE_SAMPLE_S = 3, 5
MINRAM_LOAD_S, MINRAM_BOOT_TIMEOUT_S = 3, 60
C1024_S = 10
OVERLOAD_S, OVERLOAD_LOWMEM = 10, "16M"
# guest_insns.py boots a server 2 + 3 x --repeat times per call (idle connections: 2 x (1 +
# --repeat)); under the plugin a Linux boot takes ~10 s of host time, opening 4,000
# connections about 15 s.
INSNS_CALL_TIMEOUT_S = 1800
INSNS_BOOT_TIMEOUT_S = 120


class Bench:
    """The run's settings (run.sh's variables) and its results file."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.results = Path(options.results)
        self.tsv = self.results / "results.tsv"
        self.ours_image = Path(options.ours_image)
        self.baseline = Path(options.baseline)
        self.baseline_build = Path(options.baseline_build)
        self.site = Path(options.site)
        self.port_base = options.port_base
        self.servers = [s for s in ("ours", "nginx", "busybox") if s in options.servers.split(",")]
        self.quiet_wait = options.quiet_wait
        self.started = options.started

    def say(self, message: str) -> None:
        print(f"[bench {int(time.time() - self.started):4d}s] {message}", file=sys.stderr, flush=True)

    def record(self, key: str, server: str, value: object, runs: str = "", note: str = "") -> None:
        with open(self.tsv, "a") as tsv:
            tsv.write(f"{key}\t{server}\t{value}\t{runs}\t{note}\n")

    def port_of(self, server: str) -> int:
        return self.port_base + {"nginx": 1, "ours": 2, "busybox": 3}[server]

    # ---- command lines -----------------------------------------------------------------
    def ours_argv(self, net: str, memory: str, extra: str = "") -> list[str]:
        """Our kernel on virt: virtio-mmio, static address (ipv4_probe_ms=0: taken at once, as
        the baseline's `ip addr add` does; Linux does no ARP probe), so that first_200_s
        compares like with like; no DHCP exchange for either side; access_log=off."""
        bootargs = "access_log=off ipv4_probe_ms=0" + (f" {extra}" if extra else "")
        if net == "tap":
            bootargs += " ip=10.0.3.15/24 gw=10.0.3.1"
        else:
            bootargs += " ip=10.0.2.15/24 gw=10.0.2.2"
        return qemu_command.virt_command(
            self.ours_image, qemu="qemu-system-aarch64", memory=memory, transport="mmio", network=net,
            http_port=self.port_of("ours"), tap_interface="tap0", mac=GUEST_MAC, bootargs=bootargs,
            console="nographic", no_reboot=True)

    def baseline_argv(self, server: str, net: str, memory: str, log: Path) -> list[str]:
        """The baseline's own start script in the foreground (it writes the console to LOG)."""
        # run-linux.sh forwards a TLS port too, by default PORT+363; PORT_TLS keeps it within
        # run.sh's own range of ports (PORT_BASE+21..+23).
        return ["env", f"BUILD={self.baseline_build}", f"PORT={self.port_of(server)}",
                f"PORT_TLS={self.port_of(server) + 20}", f"MEM={memory}",
                f"NET={net}", f"LOG={log}", f"GUEST_MAC={GUEST_MAC}",
                str(self.baseline / "run-linux.sh"), server, "--fg"]

    def start_command(self, server: str, net: str, memory: str, log: Path, extra: str = "",
                      plugin_arguments: bool = False) -> str:
        """One shell string that runs the server in the foreground (measure.sh --start). With
        `plugin_arguments`, QEMU also gets the words of $PLUGIN_ARGS, unquoted, as the shell
        finds them when the string runs (guest_insns.py sets it to load a TCG plugin)."""
        if server == "ours":
            plugin = " $PLUGIN_ARGS" if plugin_arguments else ""
            return (f"exec {qemu_command.shell_line(self.ours_argv(net, memory, extra))}{plugin}"
                    f" </dev/null >{shlex.quote(str(log))} 2>&1")
        argv = self.baseline_argv(server, net, memory, log)
        if plugin_arguments:   # run-linux.sh appends $QEMU_EXTRA's words to QEMU's
            return f'exec env QEMU_EXTRA="$PLUGIN_ARGS" {qemu_command.shell_line(argv[1:])}'
        return "exec " + qemu_command.shell_line(argv)

    # ---- start, wait, stop -------------------------------------------------------------
    @contextlib.contextmanager
    def server(self, server: str, memory: str, extra: str = "", net: str = "user", netns: str = "",
               log: Path | None = None) -> Iterator[tuple[harness.Machine, Path]]:
        """Boots `server` (harness.booted: own process group, killed when the block ends);
        yields the machine and its console log."""
        port = self.port_of(server)
        if net == "user" and http_code(f"http://127.0.0.1:{port}/", 1) != "":
            print(f"run.sh: something already answers on 127.0.0.1:{port}; set PORT_BASE", file=sys.stderr)
            raise SystemExit(1)
        if log is None:
            log = self.results / f"console-{server}-{memory}-{int(time.time() - self.started)}.log"
        if server == "ours":
            command, machine_log = self.ours_argv(net, memory, extra), log
        else:
            command, machine_log = self.baseline_argv(server, net, memory, log), log.with_suffix(".runner.log")
        if netns:
            command = ["ip", "netns", "exec", netns, *command]
        with harness.booted(command, port if net == "user" else 0, machine_log) as machine:
            yield machine, log

    def wait_200(self, machine: harness.Machine, timeout_s: float, netns: str = "") -> bool:
        """GET / -> 200 within timeout_s (harness.wait_for_http_ok; inside the namespace with
        curl, which reaches the guest at 10.0.3.15)."""
        if not netns:
            try:
                harness.wait_for_http_ok(machine, timeout_s)
                return True
            except harness.TestFailure:
                return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and machine.exit_code() is None:
            if http_code(f"http://{TAP_ADDRESS}/", 1, netns) == "200":
                return True
            time.sleep(0.2)
        return False

    def wait_quiet(self) -> None:
        """bench-all.sh's idle check: wait (bounded by --quiet-wait) until the other processes
        use < 20 % of a core."""
        deadline = time.monotonic() + self.quiet_wait
        while True:
            busy, names = host_other_cpu()
            if busy < 20:
                return
            if time.monotonic() >= deadline:
                if self.quiet_wait:
                    self.say(f"host still busy ({busy}% of a core: {names}) - measuring anyway")
                return
            self.say(f"host busy ({busy}% of a core: {names}) - waiting")
            time.sleep(10)


def http_code(url: str, timeout_s: float, netns: str = "") -> str:
    """curl's %{http_code} for GET url ("" when nothing answered); in `netns` when given."""
    command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(timeout_s), url]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=timeout_s + 10, check=False)
    except subprocess.TimeoutExpired:
        return ""
    code = result.stdout.strip()
    return "" if code in ("", "000") else code


def host_other_cpu() -> tuple[int, str]:
    """%CPU (100 = one core) the whole host used over ~1 s (/proc/stat), and the busiest
    processes (top, >= 5 %): measure.sh's host_other_cpu, in Python."""
    def counters() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
        return fields[0] + fields[1] + fields[2] + fields[5] + fields[6], sum(fields)
    busy_before, total_before = counters()
    try:
        top = subprocess.run(["top", "-b", "-n2", "-d1", "-w", "256"], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        top = ""
        time.sleep(1)
    busy_after, total_after = counters()
    per_name: dict[str, float] = {}
    iteration = 0
    for line in top.split("\n"):
        if line.startswith("top -"):
            iteration += 1
            continue
        fields = line.split()
        if iteration == 2 and len(fields) >= 12 and fields[0].isdigit():
            with contextlib.suppress(ValueError):
                cpu = float(fields[8])
                if cpu >= 5 and int(fields[0]) != os.getpid() and fields[11] != "top":
                    per_name[fields[11]] = per_name.get(fields[11], 0) + cpu
    delta = (total_after - total_before) or 1
    busy = round(100 * os.cpu_count() * (busy_after - busy_before) / delta)
    return busy, "".join(f"{name}({cpu:.0f}%) " for name, cpu in per_name.items())


def cpu_ns(pid: int) -> int:
    """Nanoseconds on a CPU, summed over the process's threads (/proc/PID/task/*/schedstat, first
    field: ns resolution, where /proc/PID/stat's utime+stime count 10 ms ticks)."""
    total = 0
    for schedstat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(schedstat.read_text().split()[0])
    return total


def wrk(arguments: list[str], output: Path | None, timeout_s: float, netns: str = "") -> str:
    """Runs wrk (bounded); returns what it printed (also written to `output`)."""
    command = ["wrk", *arguments]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    try:
        text = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout_s, check=False).stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as error:
        text = (error.stdout or b"").decode(errors="replace")
    if output is not None:
        output.write_text(text)
    return text


def socket_errors(text: str) -> int:
    """connect + read + write + timeout of wrk's `Socket errors:` line (0 without one)."""
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return sum(int(value) for value in match.groups()) if match else 0


def detail_lines(text: str, pattern: str) -> str:
    """The lines matching `pattern`, stripped, joined with ';' (grep | sed | paste -sd';')."""
    return ";".join(line.strip() for line in text.split("\n") if re.search(pattern, line))


# ---- the steps ------------------------------------------------------------------------------
def step_idle(bench: Bench) -> None:
    """Idle host CPU of each QEMU: CPU time of its threads over 5 s, 3 s after the first 200."""
    for server in bench.servers:
        bench.wait_quiet()
        with bench.server(server, "256M") as (machine, _log):
            if bench.wait_200(machine, 120):
                time.sleep(IDLE_SETTLE_S)
                assert machine.process is not None
                before = cpu_ns(machine.process.pid)
                time.sleep(IDLE_SAMPLE_S)
                after = cpu_ns(machine.process.pid)
                value = f"{100 * (after - before) / 1e9 / IDLE_SAMPLE_S:.3f}"
                bench.record("idle_cpu_pct", server, value)
                bench.say(f"idle CPU of {server}'s QEMU: {value} % of a core")
            else:
                bench.record("idle_cpu_pct", server, "", "", "did not come up")


def ours_minram_try(bench: Bench, megabytes: int) -> bool:
    """min-ram.sh's pass criteria, for our kernel: GET / -> 200 within the boot timeout, every
    file of the site with the right sha256, a 3 s wrk -t1 -c16 on /1k.bin completes, GET / -> 200."""
    port = bench.port_of("ours")
    with bench.server("ours", f"{megabytes}M") as (machine, log):
        ok = bench.wait_200(machine, MINRAM_BOOT_TIMEOUT_S)
        if ok:
            for path in sorted(bench.site.iterdir()):
                if not path.is_file():
                    continue
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    connection.request("GET", "/" + path.name)
                    body = connection.getresponse().read()
                    connection.close()
                except (OSError, http.client.HTTPException):
                    body = b""
                if hashlib.sha256(body).digest() != hashlib.sha256(path.read_bytes()).digest():
                    ok = False
                    break
        if ok:
            try:
                completed = subprocess.run(
                    ["wrk", "-t1", "-c16", f"-d{MINRAM_LOAD_S}s", f"http://127.0.0.1:{port}/1k.bin"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    timeout=MINRAM_LOAD_S + 20, check=False)
                ok = completed.returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            ok = http_code(f"http://127.0.0.1:{port}/", 5) == "200" and ok
    if ok:
        bench.say(f"  ours at {megabytes} MiB: pass")
        log.unlink(missing_ok=True)
        log.with_suffix(".stderr").unlink(missing_ok=True)
        return True
    console = log.read_text(errors="replace") if log.exists() else ""
    first = next((line for line in console.split("\n")
                  if re.search(r"panic|memory|error|too big|cannot", line, re.IGNORECASE)), "")
    bench.say(f"  ours at {megabytes} MiB: FAIL ({first[:100]})")
    return False


def step_minram(bench: Bench) -> None:
    """Smallest -m that serves the site correctly under load: binary search 4..256 MiB."""
    bench.wait_quiet()
    bench.say("min RAM of ours (binary search 4..256 MiB)")
    low, high = 4, 256   # low is assumed to fail (the image alone is larger), high must pass
    retries, passed_on_retry = 0, []
    if not ours_minram_try(bench, high):
        bench.record("min_ram_MiB", "ours", "", "", "fails even at 256 MiB")
        return
    while high - low > 1:
        middle = (low + high) // 2
        # A failure is tried once more: a stalled transfer (seen on this server, at any size)
        # would otherwise pass for a RAM limit. Retries are counted in the note.
        if ours_minram_try(bench, middle):
            high = middle
        else:
            bench.say(f"  retrying {middle} MiB once")
            retries += 1
            if ours_minram_try(bench, middle):
                high = middle
                passed_on_retry.append(str(middle))
            else:
                low = middle
    note = f"binary search, min-ram.sh criteria; {retries} failure(s) retried"
    if passed_on_retry:
        note += f", passed on retry at {' '.join(passed_on_retry)} MiB (first attempt failed)"
    bench.record("min_ram_MiB", "ours", high, "", note)


def step_c1024(bench: Bench) -> None:
    """1024 concurrent keep-alive connections (ours boots with max_connections=1100)."""
    for server in bench.servers:
        extra = "max_connections=1100" if server == "ours" else ""
        bench.wait_quiet()
        bench.say(f"wrk -t1 -c1024 -d{C1024_S}s --timeout 10s against {server}")
        port = bench.port_of(server)
        with bench.server(server, "256M", extra) as (machine, _log):
            if not bench.wait_200(machine, 120):
                bench.record("c1024_rps", server, "", "", "did not come up")
                continue
            out = bench.results / f"c1024-{server}.txt"
            text = wrk(["-t1", "-c1024", f"-d{C1024_S}s", "--timeout", "10s", f"http://127.0.0.1:{port}/1k.bin"],
                       out, C1024_S + 60)
            rps = next((line.split()[1] for line in text.split("\n") if line.startswith("Requests/sec:")), "")
            non2xx = next((int(line.split()[-1]) for line in text.split("\n") if "Non-2xx" in line), 0)
            detail = detail_lines(text, r"Socket errors|Non-2xx|requests in")
            bench.record("c1024_rps", server, rps, "", detail)
            bench.record("c1024_errors", server, socket_errors(text) + non2xx, "", "socket errors + non-2xx")
            bench.say(f"  {server}: {rps or '?'} req/s; {detail}")
            code = http_code(f"http://127.0.0.1:{port}/", 5)
            if code != "200":
                bench.record("c1024_after", server, code, "", "GET / after the load did not answer 200")


def overload_run(bench: Bench, prefix: str, memory: str, extra: str, connections: int, path: str,
                 netns: str) -> None:
    """wrk -c`connections` on `path` against ours at -m `memory`: answers per status
    (status.lua), wrk's socket errors, GET / -> 200 afterwards (3 tries in ~6 s)."""
    net = "tap" if netns else "user"
    base = f"http://{TAP_ADDRESS}" if netns else f"http://127.0.0.1:{bench.port_of('ours')}"
    bench.wait_quiet()
    bench.say(f"overload {prefix} over {net}: ours at -m {memory} ({extra}), "
              f"wrk -t1 -c{connections} -d{OVERLOAD_S}s {path}")
    log = bench.results / f"console-{prefix}-ours.log"
    with bench.server("ours", memory, extra, net=net, netns=netns, log=log) as (machine, _log):
        if not bench.wait_200(machine, 120, netns):
            bench.record(f"{prefix}_503", "ours", "", "", f"did not come up at -m {memory}")
            bench.record(f"{prefix}_alive", "ours", 0, "", f"did not come up at -m {memory}")
            return
        out = bench.results / f"{prefix}-ours.txt"
        text = wrk(["-t1", f"-c{connections}", f"-d{OVERLOAD_S}s", "--timeout", "10s",
                    "-s", str(Path(__file__).resolve().parent / "status.lua"), base + path],
                   out, OVERLOAD_S + 60, netns)
        statuses: dict[str, int] = {}
        for line in text.split("\n"):
            fields = line.split()
            if len(fields) >= 3 and fields[0] == "status":
                with contextlib.suppress(ValueError):
                    statuses[fields[1]] = statuses.get(fields[1], 0) + int(fields[2])
        ok200, count503 = statuses.get("200", 0), statuses.get("503", 0)
        other = sum(count for status, count in statuses.items() if status not in ("200", "503"))
        errors = socket_errors(text)
        alive, code = 0, ""
        for _ in range(3):
            code = http_code(base + "/", 2, netns)
            if code == "200":
                alive = 1
                break
            time.sleep(1)
        console = log.read_text(errors="replace") if log.exists() else ""
        detail = (f"{net} net, -m {memory}, {extra}, wrk -c{connections} {path}: "
                  f"{ok200} × 200, {count503} × 503, {other} other")
        detail += f"; {detail_lines(text, r'Socket errors|requests in')}"
        detail += f"; {console.count('over the connection limit')} console lines 'over the connection limit'"
        if not alive:
            detail += f"; GET / afterwards: {code or 'no answer'}"
        bench.record(f"{prefix}_503", "ours", count503, "", detail)
        bench.record(f"{prefix}_other", "ours", other, "", "")
        bench.record(f"{prefix}_errors", "ours", errors, "", "wrk socket errors (connect + read + write + timeout)")
        bench.record(f"{prefix}_alive", "ours", alive, "", "GET / -> 200 after the load (1 = yes)")
        bench.say(f"  {detail}; alive after: {alive}")


def step_overload(bench: Bench, netns: str) -> None:
    """Beyond the limits: 503, not failure (ours only); over tap in `netns` when given."""
    overload_run(bench, "over_limit", "256M", "max_connections=1024", 1200, "/1k.bin", netns)
    overload_run(bench, "low_memory", OVERLOAD_LOWMEM, "max_connections=1100", 1024, "/100k.bin", netns)


def guest_insns(bench: Bench, name: str, arguments: list[str], netns: str = "") -> dict[str, str]:
    """Runs tools/bench/guest_insns.py (bounded), keeps its output as insns-NAME.txt/.log in the
    results, and returns its figures {name: rest of the line}; for idle_connections_insns the
    name is `idle_connections_insns COUNT`."""
    command = [sys.executable, str(Path(__file__).resolve().parent / "guest_insns.py"),
               "--boot-timeout", str(INSNS_BOOT_TIMEOUT_S), *arguments]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    output, log = bench.results / f"insns-{name}.txt", bench.results / f"insns-{name}.log"
    with open(output, "w") as stdout, open(log, "w") as stderr:
        try:
            completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                       timeout=INSNS_CALL_TIMEOUT_S, check=False)
            if completed.returncode != 0:
                bench.say(f"  guest_insns.py for {name} failed (exit {completed.returncode}); see {log}")
        except subprocess.TimeoutExpired:
            bench.say(f"  guest_insns.py for {name} took over {INSNS_CALL_TIMEOUT_S} s: stopped; see {log}")
    found: dict[str, str] = {}
    for line in output.read_text().split("\n"):
        words = line.split(maxsplit=1)
        if len(words) < 2 or line.startswith("#"):
            continue
        figure, rest = words
        if figure == "idle_connections_insns":
            count, _, rest = rest.partition(" ")
            figure = f"{figure} {count}"
        found[figure] = rest
    return found


def value_runs_note(figures: dict[str, str], name: str) -> tuple[str, str, str]:
    """(value, runs, note) of one figure of guest_insns.py's output (`VALUE [runs: A B] NOTE`);
    ("", "", "failed ...") if it is missing."""
    if name not in figures:
        return "", "", "failed (see insns-*.log in the raw results)"
    value, _, rest = figures[name].partition(" ")
    runs = ""
    match = re.match(r"\[runs: ([^]]*)\] ?(.*)", rest)
    if match:
        runs, rest = match.groups()
    return value, runs, rest


def step_insns(bench: Bench, plugins: str, elf: str, keepalive_requests: int, close_requests: int,
               repeat: int, idle_connections: str, netns: str) -> None:
    """Guest instructions per request (QEMU's libinsn.so: exact per boot, moving only a little
    with the host's load, unlike wall-clock rates) for ours and nginx: boot, idle, keep-alive, close, 10 MiB over user networking and, with
    `netns`, 10 MiB over tap; for ours also the keep-alive cost with many idle connections open
    and the keep-alive profile by function (libhotblocks.so)."""
    servers = [server for server in bench.servers if server in ("ours", "nginx")]
    common = ["--plugins", plugins, "--keepalive-requests", str(keepalive_requests),
              "--close-requests", str(close_requests), "--repeat", str(repeat)]
    for server in servers:
        log = bench.results / f"console-insns-{server}-user.log"
        start = bench.start_command(server, "user", "256M", log, plugin_arguments=True)
        port = bench.port_of(server)
        if http_code(f"http://127.0.0.1:{port}/", 1) != "":
            print(f"run.sh: something already answers on 127.0.0.1:{port}; set PORT_BASE", file=sys.stderr)
            raise SystemExit(1)
        bench.say(f"guest instructions of {server} over user networking: boot, idle, "
                  f"{keepalive_requests} keep-alive, {close_requests} close, 10 MiB")
        figures = guest_insns(bench, f"{server}-user", [*common, "--port", str(port), "--start", start,
                                                        "--only", "keepalive,close,large"])
        for figure, key in (("boot_insns", "boot_insns"), ("idle_insns_per_s", "idle_insns_per_s"),
                            ("keepalive_insns", "keepalive_insns"), ("close_insns", "close_insns"),
                            ("large_insns_per_KiB", "large_insns_per_KiB_user")):
            value, runs, note = value_runs_note(figures, figure)
            bench.record(key, server, value, runs, note)
        bench.say(f"  {server}: " + ", ".join(f"{name} {rest.split()[0]}" for name, rest in figures.items()))
        if server != "ours":
            continue
        counts = [count for count in idle_connections.split(",") if count]
        bench.say(f"guest instructions per keep-alive request of ours with {' and '.join(counts)} idle connections open")
        figures = guest_insns(bench, "ours-idle-connections",
                              [*common, "--port", str(port), "--start", start, "--only", "idle_connections",
                               "--idle-connections", idle_connections])
        per_request = {}
        for count in counts:
            value, runs, note = value_runs_note(figures, f"idle_connections_insns {count}")
            bench.record(f"idle{count}_insns", server, value, runs, note)
            per_request[count] = value
        if len(counts) >= 2 and per_request[counts[0]] and per_request[counts[-1]]:
            ratio = float(per_request[counts[-1]]) / float(per_request[counts[0]])
            bench.record(f"idle{counts[-1]}_insns_ratio", server, f"{ratio:.3f}", "",
                         f"{per_request[counts[-1]]} / {per_request[counts[0]]} per keep-alive request")
            bench.say(f"  ours: {per_request[counts[0]]} with {counts[0]}, {per_request[counts[-1]]} with "
                      f"{counts[-1]} idle connections ({ratio:.2f}×)")
        else:
            bench.record(f"idle{counts[-1]}_insns_ratio", server, "", "", "failed")
        if elf and Path(elf).is_file():
            bench.say(f"profile of ours' keep-alive requests by function ({keepalive_requests} requests)")
            guest_insns(bench, "profile-ours", [*common, "--port", str(port), "--start", start, "--profile", elf])
        else:
            bench.say(f"no ELF of our kernel at {elf!r}: no profile")
    if not netns:
        return
    for server in servers:
        log = bench.results / f"console-insns-{server}-tap.log"
        start = bench.start_command(server, "tap", "256M", log, plugin_arguments=True)
        bench.say(f"guest instructions of {server} over tap (offload as the device offers it): 10 MiB")
        figures = guest_insns(bench, f"{server}-tap", [*common, "--host", TAP_ADDRESS, "--port", "80",
                                                       "--start", start, "--only", "large"], netns)
        value, runs, note = value_runs_note(figures, "large_insns_per_KiB")
        bench.record("large_insns_per_KiB_tap", server, value, runs, note)
        bench.say(f"  {server}: large_insns_per_KiB over tap {value or 'failed'}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="servers.py", description=__doc__.split("\n")[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--ours-image", required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--baseline-build", required=True)
    parser.add_argument("--site", required=True)
    parser.add_argument("--port-base", type=int, default=18080)
    parser.add_argument("--servers", default="ours,nginx,busybox")
    parser.add_argument("--quiet-wait", type=float, default=0)
    parser.add_argument("--started", type=float, default=time.time())
    steps = parser.add_subparsers(dest="step", required=True)
    start = steps.add_parser("start-command")
    start.add_argument("server", choices=("ours", "nginx", "busybox"))
    start.add_argument("net", choices=("user", "tap"))
    start.add_argument("memory")
    start.add_argument("log")
    start.add_argument("extra", nargs="?", default="")
    start.add_argument("--plugin-args", action="store_true", help="pass QEMU $PLUGIN_ARGS too")
    port = steps.add_parser("port")
    port.add_argument("server", choices=("ours", "nginx", "busybox"))
    steps.add_parser("wait-quiet")
    steps.add_parser("idle")
    steps.add_parser("minram")
    steps.add_parser("c1024")
    overload = steps.add_parser("overload")
    overload.add_argument("--netns", default="")
    insns = steps.add_parser("insns")
    insns.add_argument("--plugins", required=True, help="folder with libinsn.so and libhotblocks.so")
    insns.add_argument("--elf", default="", help="our kernel's ELF, for the profile")
    insns.add_argument("--keepalive-requests", type=int, default=2000)
    insns.add_argument("--close-requests", type=int, default=1000)
    insns.add_argument("--repeat", type=int, default=1, help="boots per workload (the median is recorded)")
    insns.add_argument("--idle-connections", default="16,4000")
    insns.add_argument("--netns", default="", help="also 10 MiB over tap in this namespace")
    options = parser.parse_args()
    bench = Bench(options)
    if options.step == "start-command":
        print(bench.start_command(options.server, options.net, options.memory, Path(options.log), options.extra,
                                  plugin_arguments=options.plugin_args))
    elif options.step == "port":
        print(bench.port_of(options.server))
    elif options.step == "wait-quiet":
        bench.wait_quiet()
    elif options.step == "idle":
        step_idle(bench)
    elif options.step == "minram":
        step_minram(bench)
    elif options.step == "c1024":
        step_c1024(bench)
    elif options.step == "overload":
        step_overload(bench, options.netns)
    elif options.step == "insns":
        step_insns(bench, options.plugins, options.elf, options.keepalive_requests, options.close_requests,
                   options.repeat, options.idle_connections, options.netns)
    return 0


def stop_on_terminate(signal_number: int, _frame) -> None:
    """SIGTERM becomes an exception, so every `finally` kills the QEMU it started."""
    raise SystemExit(128 + signal_number)


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, stop_on_terminate)
    signal.signal(signal.SIGINT, stop_on_terminate)
    sys.exit(main())
