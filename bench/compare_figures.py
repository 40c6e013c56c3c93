"""Two runs of `python -m bench` side by side (figures only): each case's page + count, before and
after a change, from the figures each run wrote (bench/results/figures-N.json).

    python -m bench.compare_figures BEFORE.json AFTER.json

Prints, per backend, the cases' median and p95 (page + count, ms) before and after, the ratio
of the p95s, and a summary: the geometric mean of the ratios, how many cases got slower by more
than 20 %, and the worst p95 either side. The overview's figures too.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def _cases(figures: dict[str, Any], backend: str) -> dict[str, dict[str, Any]]:
    return {c["case"]["name"]: c for c in figures.get(backend, {}).get("cases", [])}


def _geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for backend in [b for b in before if b in after]:
        old, new = _cases(before, backend), _cases(after, backend)
        names = [name for name in old if name in new]
        lines += [
            f"## {backend}: {len(names)} cases in both",
            "",
            "| case | before median | before p95 | after median | after p95 | after / before p95 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        ratios, median_ratios = [], []
        for name in names:
            a, b = old[name]["waited"], new[name]["waited"]
            ratio = b["p95"] / a["p95"] if a["p95"] > 0 else math.nan
            ratios.append(ratio)
            median_ratios.append(b["median"] / a["median"] if a["median"] > 0 else math.nan)
            lines.append(
                f"| {name} | {a['median']:.2f} | {a['p95']:.2f} | {b['median']:.2f} | {b['p95']:.2f} | {ratio:.2f} |"
            )
        finite = [r for r in ratios if math.isfinite(r) and r > 0]
        geo = _geometric_mean(finite)
        geo_median = _geometric_mean([r for r in median_ratios if math.isfinite(r) and r > 0])
        worst_before = max(old[n]["waited"]["p95"] for n in names) if names else math.nan
        worst_after = max(new[n]["waited"]["p95"] for n in names) if names else math.nan
        slower = sum(1 for r in finite if r > 1.2)
        faster = sum(1 for r in finite if r < 1 / 1.2)
        lines += [
            "",
            f"**{backend}:** geometric mean of after / before: medians {geo_median:.2f}, p95 {geo:.2f}; "
            f"{slower} cases' p95 slower by "
            f"more than 20 %, {faster} faster by more than 20 %; worst p95 {worst_before:.1f} ms before, "
            f"{worst_after:.1f} ms after.",
            "",
        ]
        overview_old, overview_new = before[backend].get("overview", {}), after[backend].get("overview", {})
        if overview_old and overview_new:
            lines += ["| overview | before median | after median |", "|---|---:|---:|"]
            for period in overview_old:
                if period in overview_new:
                    lines.append(
                        f"| {period} | {overview_old[period]['median']:.1f} | {overview_new[period]['median']:.1f} |"
                    )
            lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    print("\n".join(compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()))))


if __name__ == "__main__":
    main()
