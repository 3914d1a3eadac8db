"""Markdown benchmark table from the JSON lines that ``benchmarks/sweep.py`` appends.

Usage::

    .venv/bin/python benchmarks/table.py benchmarks/results/2026-11-21.jsonl \
        --machine "2 CPU cores (AMD EPYC, KVM), 24 GB, no GPU" > benchmarks/RESULTS.md

Prints the machine, the date of the results file and one row per measurement, in the
order measured; paste it into the README's benchmark section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

COLUMNS = [
    ("workload", "workload", str),
    ("scenarios", "scenarios", "{:,}".format),
    ("agents", "agents", "{:,}".format),
    ("levels", "levels", str),
    ("symbols", "symbols", str),
    ("ticks", "ticks", "{:,}".format),
    ("compile_s", "compile s", "{:.1f}".format),
    ("wall_s", "run s", "{:.2f}".format),
    ("agent_ticks_per_s", "agent-ticks/s", lambda v: f"{v / 1e6:,.1f}M"),
    ("ticks_per_s", "scenario-ticks/s", "{:,.0f}".format),
    ("peak_rss_mb", "peak RSS MB", "{:,.0f}".format),
    ("chunk", "chunk", "{:,}".format),
    ("load_avg", "load", "{:.1f}".format),
]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def table(records: list[dict]) -> str:
    head = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(fmt(r[key]) for key, _, fmt in COLUMNS) + " |" for r in records]
    return "\n".join([head, rule, *body])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--machine", required=True, help="the machine, in words")
    ap.add_argument("--date", default=None, help="default: the results file's date")
    a = ap.parse_args()
    records = rows(a.results)
    date = a.date or dt.date.fromtimestamp(a.results.stat().st_mtime).isoformat()
    devices = sorted({r["device"] for r in records})
    versions = sorted({r["jax"] for r in records})
    print(
        f"Measured {date} on {a.machine}; device {', '.join(devices)}; jax {', '.join(versions)}."
    )
    print("`run s` is the median of the timed runs after compilation; `load` is the machine's")
    print("1-minute load average before the run (other work slows a measurement).\n")
    print(table(records))


if __name__ == "__main__":
    main()
