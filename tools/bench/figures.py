"""The figures tools/bench/run.sh measures, shared by report.py and plot.py.

results.tsv (written by run.sh) has one line per figure and server:
    key <TAB> server <TAB> value <TAB> runs (space-separated) <TAB> note
An empty value means the measurement failed; the note says why.
"""

import csv
from dataclasses import dataclass

SERVERS = ("ours", "nginx", "busybox")


@dataclass(frozen=True)
class Figure:
    """One row of the table."""

    key: str
    label: str
    unit: str
    higher_is_better: bool


FIGURES = (
    Figure("first_200_s_user", "QEMU start → first 200, user net", "s", False),
    Figure("keepalive_rps_user", "1 KiB keep-alive, wrk -t1 -c16, user net", "req/s", True),
    Figure("close_rps_user", "1 KiB, new connection per request, user net", "req/s", True),
    Figure("large_MBps_user", "10 MiB, one curl, user net", "MB/s", True),
    Figure("first_200_s_tap", "QEMU start → first 200, tap", "s", False),
    Figure("keepalive_rps_tap", "1 KiB keep-alive, wrk -t1 -c16, tap", "req/s", True),
    Figure("close_rps_tap", "1 KiB, new connection per request, tap", "req/s", True),
    Figure("large_MBps_tap", "10 MiB, one curl, tap", "MB/s", True),
    Figure("idle_cpu_pct", "host CPU of the idle QEMU", "% of a core", False),
    Figure("image_bytes", "image incl. site (kernel + initramfs)", "bytes", False),
    Figure("image_nosite_bytes", "image without the site", "bytes", False),
    Figure("min_ram_MiB", "smallest -m serving the site under load", "MiB", False),
    Figure("c1024_rps", "1 KiB keep-alive, wrk -t1 -c1024", "req/s", True),
    Figure("c1024_errors", "errors at 1024 connections (socket + non-2xx)", "count", False),
    Figure("over_limit_503", "wrk -c1200 over max_connections=1024: 503 answers (ours only)", "count", True),
    Figure("over_limit_errors", "wrk -c1200 over max_connections=1024: socket errors (ours only)", "count", False),
    Figure("low_memory_503", "wrk -c1024 /100k.bin at -m 16M: 503 answers (ours only)", "count", True),
    Figure("low_memory_errors", "wrk -c1024 /100k.bin at -m 16M: socket errors (ours only)", "count", False),
)

# Guest instructions (QEMU's libinsn.so, tools/bench/guest_insns.py): their own table, beside the
# wall-clock one. All are lower-is-better; busybox is not counted.
INSNS_FIGURES = (
    Figure("keepalive_insns", "1 KiB GET, keep-alive (sequential, one connection)", "insns/request", False),
    Figure("close_insns", "1 KiB GET, new connection each", "insns/request", False),
    Figure("large_insns_per_KiB_user", "10 MiB GET, user net", "insns/KiB", False),
    Figure("large_insns_per_KiB_tap", "10 MiB GET, tap (with the device's offloads)", "insns/KiB", False),
    Figure("idle16_insns", "1 KiB keep-alive GET, 16 idle connections open", "insns/request", False),
    Figure("idle4000_insns", "1 KiB keep-alive GET, 4,000 idle connections open", "insns/request", False),
    Figure("idle4000_insns_ratio", "4,000 idle connections against 16", "ratio", False),
    Figure("boot_insns", "reset → ready to serve", "insns", False),
    Figure("idle_insns_per_s", "idle, per second", "insns/s", False),
)


@dataclass
class Measurement:
    """One server's value for one figure."""

    value: float | None
    runs: str
    note: str


def read_results(path):
    """results.tsv -> {key: {server: Measurement}}."""
    results = {}
    with open(path, newline="", encoding="utf-8") as file:
        for row in csv.reader(file, delimiter="\t"):
            if len(row) < 3:
                continue
            key, server, value = row[0], row[1], row[2]
            runs = row[3] if len(row) > 3 else ""
            note = row[4] if len(row) > 4 else ""
            try:
                number = float(value) if value != "" else None
            except ValueError:
                number = None
            results.setdefault(key, {})[server] = Measurement(number, runs, note)
    return results


def ratio(results, key, other):
    """ours / other for a figure, or None when either is missing or the divisor is 0."""
    row = results.get(key, {})
    ours, theirs = row.get("ours"), row.get(other)
    if ours is None or theirs is None or ours.value is None or theirs.value is None:
        return None
    if theirs.value == 0:
        return None
    return ours.value / theirs.value
