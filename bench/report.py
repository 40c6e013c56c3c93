"""bench/results.md: the machine, every figure, the ratios, and the misses said plainly.

Each benchmark writes its own section (this module's backend_section, bench.overhead's
overhead_section); `write` puts them together."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy

from bench.measure import CaseResult, Figure

PAGE_TARGET_MS = 50.0
OVERVIEW_TARGET_MS = 300.0


def machine() -> list[str]:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    memory = ""
    if Path("/proc/meminfo").exists():
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.0f} GB RAM"
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return [
        f"- {platform.platform()}, {cpu}, {os.cpu_count()} cores, {memory}",
        "- The load averages below say whether anything else shared the 2 cores while this ran (above 2: it did, and the figures are noisy).",
        f"- load at the end of the run: `{load}`",
        f"- Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}",
    ]


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(ours: Figure, raw: Figure | None) -> str:
    if raw is None or raw.median <= 0:
        return "–"
    return f"{ours.median / raw.median:.2f}"


def share(result: CaseResult, n: int) -> str:
    frac = result.matches / n if n else 0
    tag = " broad" if frac >= 0.3 else " narrow" if frac < 0.001 else ""
    return f"{frac:.2%}{tag}"


def backend_section(
    name: str, n: int, server: str, results: list[CaseResult], overview: dict[str, Figure]
) -> list[str]:
    lines = [f"## {name}, {n:,} runs", "", f"{server}", ""]
    misses = [r for r in results if r.waited.p95 >= PAGE_TARGET_MS]
    worst = max(results, key=lambda r: r.waited.p95)
    lines += [
        f"**Runs page (page of 50 + the count it shows), target p95 < {PAGE_TARGET_MS:.0f} ms:** "
        f"{len(results) - len(misses)} of {len(results)} cases met; worst p95 {_ms(worst.waited.p95)} "
        f"({worst.case.name}).",
        "",
    ]
    raw_checked = [r for r in results if r.raw_page and r.page.median > 5]
    raw_misses = [r for r in raw_checked if r.raw_page and r.page.median > 2 * r.raw_page.median]
    lines += [
        f"**Against the raw driver (page within 2x where it takes > 5 ms):** {len(raw_checked) - len(raw_misses)} "
        f"of {len(raw_checked)} such pages met.",
        "",
        "**Overview (every figure and chart), target < 300 ms:**",
        "",
        "| period | median ms | p95 ms | target |",
        "|---|---:|---:|---|",
    ]
    for label, fig in overview.items():
        verdict = (
            "met" if fig.p95 < OVERVIEW_TARGET_MS else f"missed by {fig.p95 - OVERVIEW_TARGET_MS:,.0f} ms"
        )
        lines.append(f"| {label} | {_ms(fig.median)} | {_ms(fig.p95)} | {verdict} |")
    lines += [
        "",
        "Every case (ms; *count* is what the page shows, capped; *exact* is the count on demand, one run; "
        "*raw* is the same SQL through the driver; *x* our median / raw median):",
        "",
        "| case | kind | matches | shown | page med | page p95 | count med | count p95 | page+count p95 | exact | raw page | x page | raw count | x count |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        flag = " ❌" if r.waited.p95 >= PAGE_TARGET_MS else ""
        lines.append(
            f"| {r.case.name} | {r.case.kind} | {r.matches:,} ({share(r, n)}) | {r.shown_count} | {_ms(r.page.median)} | "
            f"{_ms(r.page.p95)} | {_ms(r.count.median)} | {_ms(r.count.p95)} | {_ms(r.waited.p95)}{flag} | "
            f"{_ms(r.exact_count_ms)} | {_ms(r.raw_page.median if r.raw_page else None)} | {_ratio(r.page, r.raw_page)} | "
            f"{_ms(r.raw_count.median if r.raw_count else None)} | {_ratio(r.count, r.raw_count)} |"
        )
    if misses:
        lines += [
            "",
            f"Misses (page + count p95 ≥ {PAGE_TARGET_MS:.0f} ms): "
            + "; ".join(f"{r.case.name} {_ms(r.waited.p95)} ms" for r in misses)
            + ".",
        ]
    if raw_misses:
        lines += [
            "",
            "Pages more than 2x the raw driver: "
            + "; ".join(f"{r.case.name} {_ratio(r.page, r.raw_page)}x" for r in raw_misses)
            + ".",
        ]
    return [*lines, ""]


def write(
    path: Path, command: str, header: list[str], sections: list[list[str]], not_measured: list[str]
) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Made by `{command}`.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
        *header,
        "",
    ]
    for section in sections:
        lines += section
    if not_measured:
        lines += ["## Not measured by this run", "", *[f"- {item}" for item in not_measured], ""]
    path.write_text("\n".join(lines))
