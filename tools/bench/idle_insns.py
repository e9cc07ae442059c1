#!/usr/bin/env python3
"""Guest instructions per keep-alive request while many other connections sit idle.

A server whose work grows with the number of open connections (a walk over every socket per
packet) gets slower for everyone as a crowd gathers. This counts, with QEMU's TCG plugin
`libinsn.so` (exact, the same on a busy or quiet host), the guest instructions of REQUESTS
sequential GETs of /1k.bin on one keep-alive connection, once with each number of idle
connections given in --idle (each idle connection made one request and stays open, as a browser's
keep-alive connections do), and prints one line per count:

  idle 16: 35,123 guest instructions per keep-alive request
  idle 4000: 36,010 guest instructions per keep-alive request (1.03 x the first)

Each figure is the difference between two boots with the same idle connections open, one with
and one without the requests, divided by REQUESTS.

  idle_insns.py --plugin DIR/libinsn.so --port PORT --start 'CMD' [--idle 16,4000] [--requests N]

CMD starts QEMU in the foreground with 127.0.0.1:PORT forwarded to the server and passes QEMU
$PLUGIN_ARGS (`./run-qemu.sh -- $PLUGIN_ARGS`); the site must hold /1k.bin. Only 127.0.0.1 is
contacted; every wait is bounded.
"""

import argparse
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time


def get(connection: socket.socket, path: str) -> None:
    """One GET on `connection`; reads the whole response (Content-Length framed)."""
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = connection.recv(65536)
        if not data:
            raise OSError("closed before the response head")
        buffer += data
    head, _, body = buffer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError("not 200: " + head.split(b"\r\n")[0].decode(errors="replace"))
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    remaining = int(match.group(1)) - len(body) if match else 0
    while remaining > 0:
        data = connection.recv(min(remaining, 1 << 20))
        if not data:
            raise OSError("closed in the body")
        remaining -= len(data)


def wait_ready(port: int, limit_s: float) -> bool:
    end = time.time() + limit_s
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                connection.settimeout(5)
                get(connection, "/1k.bin")
                return True
        except OSError:
            time.sleep(0.1)
    return False


def open_idle(port: int, count: int) -> list[socket.socket]:
    """`count` connections that each made one request and stay open."""
    connections = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=30)
        connection.settimeout(30)
        get(connection, "/1k.bin")
        connections.append(connection)
    return connections


def stop_group(process: subprocess.Popen) -> None:
    """Ends the command's process group; QEMU writes the plugin's count as it exits."""
    os.killpg(process.pid, signal.SIGTERM)
    end = time.time() + 30
    while time.time() < end:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def count_instructions(options, idle_count: int, requests: int, plugin_argument: str = "") -> int | str:
    """Boots, opens `idle_count` idle connections, makes `requests` keep-alive requests, stops;
    returns the guest instructions of the whole run (or, with another plugin, its log)."""
    log_path = tempfile.NamedTemporaryFile(prefix="insn-", suffix=".log", delete=False).name
    plugin_argument = plugin_argument or f"{options.plugin},inline=on"
    environment = dict(os.environ, PLUGIN_ARGS=f"-plugin {plugin_argument} -d plugin -D {log_path}")
    process = subprocess.Popen(options.start, shell=True, env=environment, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    idle: list[socket.socket] = []
    try:
        if not wait_ready(options.port, options.boot_timeout):
            raise SystemExit(f"server not ready on 127.0.0.1:{options.port}")
        idle = open_idle(options.port, idle_count)
        time.sleep(1.0)
        with socket.create_connection(("127.0.0.1", options.port), timeout=30) as connection:
            connection.settimeout(30)
            for _ in range(requests):
                get(connection, "/1k.bin")
        time.sleep(1.0)
        # The idle connections are still served (none was closed to make room).
        get(idle[-1], "/1k.bin") if idle else None
    finally:
        stop_group(process)
        for connection in idle:
            connection.close()
    text = open(log_path).read()
    os.unlink(log_path)
    if plugin_argument != f"{options.plugin},inline=on":
        return text
    counts = re.findall(r"insns: (\d+)", text)
    if not counts:
        raise SystemExit("the plugin printed no count (is PLUGIN_ARGS passed to QEMU?)")
    return int(counts[-1])


def profile(options, idle_count: int) -> None:
    """Guest instructions by function (libhotblocks.so, beside --plugin), per request; boot and
    the idle connections' set-up included, so use enough --requests."""
    import bisect
    hot = os.path.join(os.path.dirname(options.plugin), "libhotblocks.so")
    text = count_instructions(options, idle_count, options.requests, hot)
    symbols_text = subprocess.run(["nm", "-C", "--defined-only", options.profile], capture_output=True,
                                  text=True, check=True).stdout
    symbols = sorted((int(address, 16), name) for address, kind, name in
                     (line.split(" ", 2) for line in symbols_text.splitlines() if line.count(" ") >= 2)
                     if kind in "tTwW")
    starts = [address for address, _ in symbols]
    per_function: dict[str, int] = {}
    total = 0
    for match in re.finditer(r"0x([0-9a-f]+), \d+, (\d+), (\d+)", text):
        pc, instructions = int(match.group(1), 16), int(match.group(2)) * int(match.group(3))
        index = bisect.bisect_right(starts, pc) - 1
        name = symbols[index][1] if index >= 0 else "?"
        per_function[name] = per_function.get(name, 0) + instructions
        total += instructions
    print(f"total {total} guest instructions, {total / options.requests:.0f} per request")
    for name, instructions in sorted(per_function.items(), key=lambda item: -item[1])[:30]:
        print(f"{instructions / total * 100:5.1f} % {instructions / options.requests:9.0f}  {name[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plugin", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--idle", default="16,4000")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--boot-timeout", type=float, default=180)
    parser.add_argument("--profile", metavar="ELF",
                        help="instead: where the instructions go, by guest function, with the last --idle count")
    options = parser.parse_args()
    idle_counts = [int(value) for value in options.idle.split(",")]
    # One descriptor per idle connection, here and in QEMU (its slirp socket).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(idle_counts) + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    if options.profile:
        profile(options, idle_counts[-1])
        return
    first = None
    for idle_count in idle_counts:
        without = count_instructions(options, idle_count, 0)
        with_requests = count_instructions(options, idle_count, options.requests)
        per_request = (with_requests - without) / options.requests
        ratio = f" ({per_request / first:.2f} x the first)" if first else ""
        first = first or per_request
        print(f"idle {idle_count}: {per_request:,.0f} guest instructions per keep-alive request{ratio}",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
