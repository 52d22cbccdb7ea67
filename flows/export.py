"""Export a synthesis run: check inputs → profile the rows → write configs, charts, card → swap in → push.

    synthembed export --run-id RUN_ID --out ./exports/RUN_ID [--push-to-hub OWNER/NAME [--private]]

The result is a Hugging Face dataset folder (see :mod:`tasks.export.dataset` for the layout)
that ``datasets.load_dataset(out)`` reads offline. A plain function, not a Prefect flow: it
is one local, seconds-long step with nothing to retry or resume, and runs without a server.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tasks.export.card import render_card
from tasks.export.dataset import check_out_dir, open_run, staged_folder, write_config
from tasks.common.hub import HubUnavailable, check_repo_id, push_folder
from tasks.export.plots import write_charts
from tasks.runs.profile import profile_rows
from tasks.common.progress import Progress
from tasks.storage.store import open_store
from tasks.synth.config import check_run_id

log = logging.getLogger("synthembed.export")


def export(store_url: str, run_id: str, out: str | Path, overwrite: bool = False, push_to_hub: str | None = None,
           private: bool = False, logger: logging.Logger | None = None) -> dict:
    """Write run ``run_id`` of ``store_url`` as a dataset folder at ``out``, then push it if asked.

    Args:
        store_url: the store holding the run (``file://PATH`` or ``s3://BUCKET/PREFIX``).
        run_id: the synthesis run to export.
        out: the local folder to write: absent or empty, unless ``overwrite``.
        overwrite: replace a non-empty ``out`` (only once the new export is complete).
        push_to_hub: a hub dataset repository (``OWNER/NAME``) to upload the folder to.
        private: create that repository private.

    Returns:
        ``{"out", "rows", "configs", "card", "plots", "hub_url", "hub_error"}``; ``hub_error`` is the
        one-line reason a push did not happen (the folder is complete regardless).

    Raises ValueError (ExportError included) for bad input, StoreError for an unusable store.
    """
    logger = logger or log
    check_run_id(run_id)  # cheap input checks first: nothing is read or written before they pass
    target = check_out_dir(Path(out), overwrite)
    repo_id = check_repo_id(push_to_hub) if push_to_hub else None
    if private and not repo_id:
        raise ValueError("--private goes with --push-to-hub (it makes the hub repository private)")
    run = open_run(open_store(store_url), run_id)
    logger.info("run %s: %d committed rows", run_id, run.count)
    profile = profile_rows(run.rows)

    progress = Progress(total=run.count, desc="rows exported", logger=logger)
    with staged_folder(target) as folder:
        configs = {}
        for task_type in profile.task_types:
            configs[task_type] = write_config(run.rows, folder, task_type)
            for path, rows in configs[task_type]:
                logger.info("wrote %s (%d rows)", path, rows)
                progress.advance(rows)
        progress.close()
        plots = write_charts(profile, folder)
        logger.info("wrote %s", ", ".join(plots.values()))
        card = render_card(run.manifest, profile, configs, plots, filters=run.filters, repo_id=repo_id,
                           folder_name=target.name)
        (folder / "README.md").write_text(card, encoding="utf-8")
        logger.info("wrote README.md (dataset card)")
    logger.info("exported %d rows to %s", run.count, target)

    table = [{"config": t, "rows": sum(n for _, n in files), "files": len(files)} for t, files in configs.items()]
    summary = {"out": str(target), "rows": run.count, "configs": table, "card": str(target / "README.md"),
               "plots": [str(target / path) for path in plots.values()], "hub_url": None, "hub_error": None}
    if repo_id:
        logger.info("pushing %s to the Hugging Face hub as dataset %s", target, repo_id)
        try:
            summary["hub_url"] = push_folder(target, repo_id, private)
        except HubUnavailable as exc:
            summary["hub_error"] = str(exc)
    return summary


class _Stderr(logging.Handler):
    """Messages to whatever ``sys.stderr`` is when they are logged (it may be swapped, e.g. under pytest)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def console_logger() -> logging.Logger:
    """The export's logger, printing its messages plainly on stderr (the CLI's progress lines)."""
    if not any(isinstance(h, _Stderr) for h in log.handlers):
        log.addHandler(_Stderr())
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def add_export_parser(sub, default_store: str) -> None:
    p = sub.add_parser("export", help="write a run as a Hugging Face dataset folder (card, plots), optionally push it")
    p.add_argument("--run-id", required=True)
    p.add_argument("--out", required=True, help="local folder to write; must be absent or empty (see --overwrite)")
    p.add_argument("--store", default=default_store)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out once the new export is complete")
    p.add_argument("--push-to-hub", metavar="REPO", help="then upload it as hub dataset OWNER/NAME (token: $HF_TOKEN)")
    p.add_argument("--private", action="store_true", help="create the --push-to-hub repository private")


def export_command(args) -> int:
    """``synthembed export``: 0 written (and pushed), 1 written but the push failed, 2 bad input."""
    from tasks.common.report import format_table
    from tasks.storage.store import StoreError

    try:
        summary = export(args.store, args.run_id, args.out, overwrite=args.overwrite, push_to_hub=args.push_to_hub,
                         private=args.private, logger=console_logger())
    except (ValueError, StoreError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(summary["configs"]))
    print(f"\ndataset: {summary['out']}\ncard:    {summary['card']}")
    if summary["hub_error"]:
        print(f"error: {summary['hub_error']}", file=sys.stderr)
        return 1
    if summary["hub_url"]:
        print(f"hub:     {summary['hub_url']}")
    return 0
