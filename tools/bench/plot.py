#!/usr/bin/env python3
"""Plots how many times better bareserve is than nginx and busybox, per figure.

    plot.py RESULTS_TSV OUT_PNG

"Better" is the ratio ours/theirs for figures where higher is better and its inverse where
lower is better, so every bar reads the same way: right of 1 (log scale) = ours is better.
"""

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures import FIGURES, ratio, read_results  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS_TSV OUT_PNG")
    results = read_results(sys.argv[1])
    labels, advantage = [], {"nginx": [], "busybox": []}
    for figure in FIGURES:
        ratios = {other: ratio(results, figure.key, other) for other in advantage}
        if all(value is None for value in ratios.values()):
            continue
        labels.append(figure.label)
        for other, value in ratios.items():
            if value is None or value <= 0:
                advantage[other].append(None)
            else:
                advantage[other].append(value if figure.higher_is_better else 1 / value)
    if not labels:
        sys.exit("plot.py: no figure has a ratio")

    height = 0.38
    fig, axes = plt.subplots(figsize=(10, 0.55 * len(labels) + 1.6))
    positions = range(len(labels))
    for offset, (other, colour) in zip((-height / 2, height / 2), (("nginx", "#2a6f97"), ("busybox", "#e07a1f"))):
        values = advantage[other]
        ys = [p + offset for p, v in zip(positions, values) if v is not None]
        xs = [v for v in values if v is not None]
        # Bars start at 1 (equal) and end at the factor, so "worse" bars point left.
        axes.barh(ys, [x - 1 for x in xs], height=height, color=colour, label=f"vs {other}", left=1)
        for y, x in zip(ys, xs):
            text = f"{x:,.0f}×" if x >= 10 else f"{x:.2g}×"
            axes.annotate(text, (x, y), xytext=(3 if x >= 1 else -3, 0), textcoords="offset points",
                          va="center", ha="left" if x >= 1 else "right", fontsize=8)
    axes.set_xscale("log")
    every = [v for values in advantage.values() for v in values if v is not None]
    axes.set_xlim(left=min(every + [1]) * 0.7, right=max(every + [1]) * 1.6)
    axes.axvline(1, color="black", linewidth=1)
    axes.set_yticks(list(positions))
    axes.set_yticklabels(labels, fontsize=9)
    axes.invert_yaxis()
    axes.set_xlabel("times better than Linux (log scale; > 1: bareserve better, < 1: worse)")
    axes.set_title("bareserve relative to Linux + nginx / busybox httpd (same QEMU, same run)", pad=24)
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    axes.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110, bbox_inches="tight")
    print(f"plot: {sys.argv[2]}")


if __name__ == "__main__":
    main()
