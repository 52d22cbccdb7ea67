"""Plain-text tables for the terminal (the same rows the Prefect artifacts show).

>>> rows = [{"shard": "sts/en", "rows": 3}, {"shard": "retrieval/es", "rows": 12}]
>>> print(format_table(rows))
shard         rows
------------  ----
sts/en           3
retrieval/es    12
>>> print(markdown_table(rows))
| shard | rows |
|---|---:|
| sts/en | 3 |
| retrieval/es | 12 |
"""

from __future__ import annotations


def format_table(rows: list[dict]) -> str:
    """Columns from the first row's keys; numbers right-aligned, text left-aligned."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), (int, float)) for row in rows) for c in columns]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def markdown_table(rows: list[dict]) -> str:
    """The same rows as a Markdown table (Prefect markdown artifacts, READMEs); numbers right-aligned."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    numeric = [all(isinstance(row.get(c), (int, float)) for row in rows) for c in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
