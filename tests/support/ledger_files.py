"""A local run's request ledger read straight from its files: every answer that was paid for."""

from __future__ import annotations

import json
from pathlib import Path


def ledger_records(run_dir: Path) -> list[dict]:
    """Every record of ``{run_dir}/ledger/**/*.jsonl``; a line torn by a kill is skipped."""
    records = []
    for path in sorted((run_dir / "ledger").rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line torn by the kill
    return records


def ledger_keys(run_dir: Path) -> set[str]:
    """The request keys the ledger holds an answer for."""
    return {r["key"] for r in ledger_records(run_dir)}
