#!/usr/bin/env python3
"""Turns tools/bench/run.sh's results.tsv into a table on stdout and, with --out, BENCHMARKS.md.

    report.py --results R/results.tsv --env R/env.txt [--targets targets.tsv]
              [--insns-profile R/insns-profile-ours.txt]
              [--out BENCHMARKS.md --plot ratios.png --plot-note TEXT --raw-dir R --root REPO]

Two tables: the wall-clock figures (FIGURES) and the guest instruction counts (INSNS_FIGURES),
each with its ratios and targets; with --insns-profile, where ours' keep-alive instructions go.
"""

import argparse
import os
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures import FIGURES, INSNS_FIGURES, SERVERS, ratio, read_results  # noqa: E402


def read_env(path):
    """env.txt ("name: value" lines) -> ordered list of pairs."""
    pairs = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            name, sep, value = line.rstrip("\n").partition(": ")
            if sep:
                pairs.append((name, value))
    return pairs


@dataclass(frozen=True)
class Target:
    """One line of targets.tsv: the rule report.py checks and the text the table shows."""

    rule: str
    text: str


def read_targets(path):
    """targets.tsv (key, rule, text; tab-separated) -> {key: Target}; '#' lines are comments."""
    targets = {}
    if not path or not os.path.exists(path):
        return targets
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                sys.exit(f"{path}:{number}: expected key<TAB>rule<TAB>text, got {len(fields)} field(s)")
            key, rule, text = fields
            targets[key] = Target(rule.strip(), text)
    return targets


COMPARISONS = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "==": lambda a, b: a == b,
}


def operand(results, key, left):
    """The number a condition's left side names (see targets.tsv), or None when not measured."""
    if left == "value":
        measurement = results.get(key, {}).get("ours")
        return None if measurement is None else measurement.value
    if left.startswith("ratio(") and left.endswith(")"):
        return ratio(results, key, left[len("ratio(") : -1])
    if left.startswith("times_fewer(") and left.endswith(")"):
        return times_fewer(results, key, left[len("times_fewer(") : -1])
    measurement = results.get(left, {}).get("ours")
    return None if measurement is None else measurement.value


def times_fewer(results, key, other):
    """other / ours: how many times fewer (instructions) ours needs; None when not measured."""
    value = ratio(results, key, other)
    return None if not value else 1 / value


def verdict(results, key, target):
    """'met', 'NOT MET', 'no data' or '' (no rule) for one figure."""
    if target is None or not target.rule:
        return ""
    missing = False
    for condition in target.rule.split(" and "):
        words = condition.split()
        if len(words) != 3 or words[1] not in COMPARISONS:
            sys.exit(f"targets.tsv: cannot read the condition {condition!r} of {key}")
        left, comparison, right = words
        number = operand(results, key, left)
        try:
            bound = float(right)
        except ValueError:
            bound = operand(results, key, right)
        if number is None or bound is None:
            missing = True
            continue
        if not COMPARISONS[comparison](number, bound):
            return "NOT MET"
    return "no data" if missing else "met"


def format_value(measurement, unit):
    """A value as the table shows it; '—' when missing, 'failed' when it failed."""
    if measurement is None:
        return "—"
    if measurement.value is None:
        return "failed" if measurement.note else "—"
    value = measurement.value
    if unit == "bytes":
        return f"{value:,.0f}"
    if unit in ("req/s", "count", "MiB"):
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:.3f}"
    if unit == "% of a core":
        return f"{value:.2f}"
    if unit in ("insns", "insns/request", "insns/s") or (unit == "insns/KiB" and value >= 100):
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.2f}"
    return f"{value:.1f}"


def format_ratio(value):
    """ours/other as '4.10×'."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}×"
    if value >= 0.1:
        return f"{value:.2f}×"
    return f"{value:.3f}×"


def rows(results, targets):
    """Table rows for every figure that was measured for at least one server."""
    table = []
    for figure in FIGURES:
        row = results.get(figure.key)
        if not row:
            continue
        table.append(
            [
                f"{figure.label} ({figure.unit}, {'higher' if figure.higher_is_better else 'lower'} is better)",
                *(format_value(row.get(server), figure.unit) for server in SERVERS),
                format_ratio(ratio(results, figure.key, "nginx")),
                format_ratio(ratio(results, figure.key, "busybox")),
                targets[figure.key].text if figure.key in targets else "",
                verdict(results, figure.key, targets.get(figure.key)),
            ]
        )
    return table


HEADER = ["figure", "ours", "nginx", "busybox", "ours/nginx", "ours/busybox", "target", "met?"]
INSNS_HEADER = ["figure", "ours", "nginx", "ours/nginx", "nginx/ours (× fewer)", "target", "met?"]


def insns_rows(results, targets):
    """Rows of the guest instruction table (ours and nginx only; busybox is not counted)."""
    table = []
    for figure in INSNS_FIGURES:
        row = results.get(figure.key)
        if not row:
            continue
        fewer = times_fewer(results, figure.key, "nginx")
        table.append(
            [
                f"{figure.label} ({figure.unit})",
                format_value(row.get("ours"), figure.unit),
                format_value(row.get("nginx"), figure.unit),
                format_ratio(ratio(results, figure.key, "nginx")),
                format_ratio(fewer),
                targets[figure.key].text if figure.key in targets else "",
                verdict(results, figure.key, targets.get(figure.key)),
            ]
        )
    return table


def summary(table, whose="Issue 6's targets"):
    """One line: how many of the figures with a target meet it."""
    verdicts = [r[-1] for r in table if r[-1]]
    met = verdicts.count("met")
    failed = [r[0].split(" (")[0] for r in table if r[-1] == "NOT MET"]
    nodata = [r[0].split(" (")[0] for r in table if r[-1] == "no data"]
    line = f"{whose} (`tools/bench/targets.tsv`): {met} of {len(verdicts)} met"
    if failed:
        line += "; not met: " + "; ".join(failed)
    if nodata:
        line += "; no data: " + "; ".join(nodata)
    return line + "."


def print_plain(table, header=HEADER):
    """The table, aligned, for the terminal."""
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    for r in [header, *table]:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def notes(results):
    """Per-run values, disturbance and error notes, as markdown bullet lines."""
    lines = []
    for figure in FIGURES + INSNS_FIGURES:
        for server in SERVERS:
            m = results.get(figure.key, {}).get(server)
            if m is None:
                continue
            detail = []
            if m.runs and len(m.runs.split()) > 1:
                detail.append(f"runs: {m.runs}")
            if m.note:
                detail.append(m.note)
            if detail:
                lines.append(f"- {figure.key}, {server}: " + "; ".join(detail))
    for net in ("user", "tap"):
        for server in SERVERS:
            m = results.get(f"host_other_cpu_{net}", {}).get(server)
            if m is not None and m.value is not None:
                flag = " (**disturbed**: above 20 %)" if m.value > 20 else ""
                lines.append(
                    f"- other processes on the host around measure.sh ({server}, {net}): {m.value:.0f} % of a core{flag}"
                )
            m = results.get(f"wrk_runs_with_errors_{net}", {}).get(server)
            if m is not None:
                lines.append(f"- wrk errors ({server}, {net}, counts over runs): {m.note}")
    for key, text in (("ready_ms_user", "user net"), ("ready_ms_tap", "tap")):
        m = results.get(key, {}).get("ours")
        if m is not None and m.value is not None:
            lines.append(f"- ours, {text}: console says ready {m.value:.1f} ms after reset (guest clock)")
    for key in ("over_limit_other", "low_memory_other", "over_limit_alive", "low_memory_alive"):
        m = results.get(key, {}).get("ours")
        if m is not None and m.value is not None:
            lines.append(f"- {key}: {m.value:.0f} ({m.note})")
    for server in SERVERS:
        m = results.get("c1024_after", {}).get(server)
        if m is not None:
            lines.append(f"- {server}: {m.note} (got {m.value})")
    m = results.get("tap_skipped", {}).get("all")
    if m is not None:
        lines.append(f"- tap skipped: {m.note}")
    m = results.get("insns_skipped", {}).get("all")
    if m is not None:
        lines.append(f"- guest instructions not counted: {m.note}")
    return lines


def read_profile(path):
    """guest_insns.py --profile's output -> (its first comment line, [(per request, share, function)])."""
    if not path or not os.path.exists(path):
        return "", []
    heading, entries = "", []
    with open(path, encoding="utf-8") as file:
        for line in file:
            line = line.rstrip("\n")
            if line.startswith("#"):
                heading = heading or line.lstrip("# ")
                continue
            fields = line.split("\t")
            if len(fields) == 3:
                entries.append((int(fields[0]), float(fields[1]), fields[2]))
    return heading, entries


def markdown_table(header, table, alignment):
    """A markdown table; 'NOT MET' in the last column is set in bold."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(alignment) + "|"]
    for r in table:
        cells = [str(c).replace("|", "\\|") for c in r]
        if cells[-1] == "NOT MET":
            cells[-1] = "**not met**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_markdown(path, table, env, args, results, insns_table, profile):
    """BENCHMARKS.md."""
    env_map = dict(env)
    out = []
    out.append("# Benchmarks: bareserve vs Linux + nginx / busybox httpd")
    out.append("")
    out.append(
        "Generated by `tools/bench/run.sh` (see `tools/bench/README.md`): our kernel and the Linux baseline "
        "(`../shared/baseline/`: Debian's arm64 kernel + initramfs with nginx or busybox httpd) boot in the same "
        "QEMU (`-M virt -cpu cortex-a72 -smp 1 -m 256M`, TCG) one after the other, measured by the baseline's "
        "`measure.sh` with the same options and the same site (`mksite.sh`: index.html, 1k.bin, 100k.bin, "
        "10m.bin). Each figure is the median of the runs listed under Details. Ratios are ours / theirs: above 1 "
        "is better for ours where higher is better, below 1 where lower is better."
    )
    out.append("")
    if table:
        out.extend(markdown_table(HEADER, table, ["---", *["---:"] * 5, "---", "---"]))
        out.append("")
        out.append(summary(table))
    else:
        out.append("(No wall-clock figures in this run: their steps were skipped.)")
    out.append("")
    if insns_table:
        out.append("## Guest instructions per request")
        out.append("")
        out.append(
            "Counted by QEMU's TCG plugin `libinsn.so` (`tools/bench/guest_insns.py`): what a real aarch64 core "
            "would execute, far steadier than the wall-clock figures above (a boot's count repeats to 0.1 %; a "
            "workload's was seen to move by up to 13 % between runs on a loaded host, 25 % with 4,000 idle "
            "connections open, hence the median of the runs under Details). Each figure is a boot with the workload less a boot without it, less the idle "
            "rate over the extra wall time; keep-alive is N sequential GETs on one connection, close N GETs with "
            "a new connection each (N under Details), 10 MiB one GET. `nginx/ours` is how many times fewer "
            "instructions ours executes."
        )
        out.append("")
        out.extend(markdown_table(INSNS_HEADER, insns_table, ["---", *["---:"] * 4, "---", "---"]))
        out.append("")
        out.append(summary(insns_table, "Issue 15's instruction targets"))
        out.append("")
    heading, entries = profile
    if entries:
        out.append("### Where ours' keep-alive instructions go")
        out.append("")
        out.append(
            f"`guest_insns.py --profile` (`libhotblocks.so`: every translated block's execution count, attributed "
            f"to the function of the ELF's symbols it starts in): {heading}. Top {len(entries)}:"
        )
        out.append("")
        out.extend(markdown_table(["function", "insns/request", "share"],
                                  [[f"`{name}`", f"{insns:,}", f"{share:.1f} %"] for insns, share, name in entries],
                                  ["---", "---:", "---:"]))
        out.append("")
    if args.plot and os.path.exists(args.plot) and not args.plot_note:
        rel = os.path.relpath(args.plot, os.path.dirname(os.path.abspath(path)))
        out.append(f"![ours relative to nginx and busybox]({rel})")
        out.append("")
        out.append(
            "The plot shows how many times better ours is (ratio for higher-is-better figures, its inverse for "
            "lower-is-better ones; log scale, 1 = equal)."
        )
        out.append("")
    elif args.plot_note:
        out.append(f"(No plot: {args.plot_note}.)")
        out.append("")
    out.append("## Machine and versions")
    out.append("")
    for name, value in env:
        out.append(f"- {name}: {value}")
    out.append("")
    out.append("## How each figure is measured")
    out.append("")
    out.append(
        "- first_200, keep-alive, close, 10 MiB: `measure.sh --runs N --duration S --start CMD HOST PORT` "
        "(user net: hostfwd on 127.0.0.1; tap: inside a private network namespace made by `netns-tap.sh`, "
        "guest 10.0.3.15). Ours boots with `access_log=off` and a static address like the baseline's init: "
        "`ip=10.0.2.15/24 gw=10.0.2.2` on user net, `ip=10.0.3.15/24 gw=10.0.3.1` on tap (no DHCP in "
        "first_200 for either side); the baseline with `run-linux.sh S --fg`. Ours is built from the committed "
        "HEAD (`git archive`, recompiled every run)."
    )
    out.append(
        "- idle CPU: CPU time of the QEMU process's threads (`/proc/PID/task/*/schedstat`) over 5 s, starting 3 s after the "
        "first 200, no load."
    )
    out.append(
        "- image: ours is `kernel-virt.img` (raw Image with the site archive inside); Linux is the Debian "
        "`Image` plus the gzip'd initramfs (`initramfs-all` for nginx, `initramfs-busybox` for busybox). "
        "Without the site: ours built with an empty `SITE`, Linux with an empty docroot."
    )
    out.append(
        "- min RAM: binary search on `-m`; pass = `GET /` 200 within 60 s, every site file with the right "
        "sha256, a 3 s `wrk -t1 -c16` on `/1k.bin` completes, `GET /` 200 again (`min-ram.sh`'s criteria; "
        "the baseline's figure comes from `min-ram.sh` itself)."
    )
    out.append(
        "- 1024 connections: `wrk -t1 -c1024 -d10s --timeout 10s` on `/1k.bin` over user net; ours boots with "
        "`max_connections=1100`; nginx's config allows 1024 worker connections."
    )
    out.append(
        "- overload (ours only; over tap in a private namespace, because slirp does not hand 1200 concurrent "
        "connections to the guest): `wrk -t1 -c1200 -d10s` on `/1k.bin` against `max_connections=1024` at "
        "`-m 256M`, and `wrk -t1 -c1024 -d10s` on `/100k.bin` at `-m 16M` with `max_connections=1100` (the heap, "
        "not the count, is the bound); answers counted per status by `tools/bench/status.lua`. The 503 rows "
        "pass when every answer is 200 or 503 (at least one 503 beyond `max_connections`) and `GET /` answers "
        "200 afterwards; the error rows when wrk's socket errors are no more than the 503s (wrk counts the "
        "close after each 503 as one error; errors beyond that are connections reset without an answer)."
    )
    out.append(
        "- guest instructions: `tools/bench/guest_insns.py` with `-plugin libinsn.so,inline=on` "
        "(`tools/bench/build_plugins.sh` builds it from the installed QEMU's source). Per server over user net: a "
        "base boot (first answer, 2 s, stop), an idle boot (the same plus 10 s: the idle rate, and boot = the "
        "base less its idle time and less the one request that saw it ready), then one boot per workload. Over "
        "tap (private namespace) the 10 MiB GET only, with its own base and idle boots. Idle connections (ours): "
        "16 and 4,000 connections that each made one request stay open, then the keep-alive requests; each a "
        "boot with them less one without, the same connections open in both. The profile: two boots under "
        "`libhotblocks.so`, with and without the keep-alive requests, per function, divided by the requests."
    )
    out.append("")
    out.append("## Details")
    out.append("")
    out.extend(notes(results))
    out.append("")
    if args.raw_dir:
        raw = os.path.relpath(args.raw_dir, args.root) if args.root else args.raw_dir
        out.append(f"Raw logs of this run (not committed): `{raw}/`.")
        out.append("")
    out.append(
        "Caveats (from the baseline's README): the host is a small shared VM; the same command moves 10–40 % "
        "between passes, so compare the columns of one run, not across runs. With `-smp 1` QEMU uses two busy "
        "host threads under load, so wrk and QEMU share the host's cores. On user networking slirp caps one "
        "transfer at about 20 MB/s and stalls now and then (wrk timeouts)."
    )
    if env_map.get("mode", "").startswith("quick"):
        out.append("")
        out.append("**Quick mode**: one run per figure, short wrk runs; for development only.")
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n".join(out) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--targets")
    parser.add_argument("--out")
    parser.add_argument("--plot")
    parser.add_argument("--plot-note", default="")
    parser.add_argument("--raw-dir")
    parser.add_argument("--root")
    parser.add_argument("--insns-profile", help="guest_insns.py --profile's output for ours")
    args = parser.parse_args()
    results = read_results(args.results)
    env = read_env(args.env)
    targets = read_targets(args.targets)
    table = rows(results, targets)
    insns_table = insns_rows(results, targets)
    profile = read_profile(args.insns_profile)
    print()
    if table:
        print_plain(table)
        print()
        print(summary(table))
        print()
    if insns_table:
        print("Guest instructions (QEMU's libinsn.so):")
        print_plain(insns_table, INSNS_HEADER)
        print()
        print(summary(insns_table, "Issue 15's instruction targets"))
        print()
    heading, entries = profile
    if entries:
        print(f"Profile of ours, keep-alive: {heading}")
        for insns, share, name in entries:
            print(f"  {insns:8,} {share:5.1f} %  {name[:120]}")
        print()
    for line in notes(results):
        print(line)
    if args.out:
        write_markdown(args.out, table, env, args, results, insns_table, profile)


if __name__ == "__main__":
    main()
