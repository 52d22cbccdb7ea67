"""Export a synthesis run: check inputs → profile the rows → write configs, charts, card → swap in → push.

    synthembed export --run-id RUN_ID --out ./exports/RUN_ID [--push-to-hub OWNER/NAME [--private]]

The result is a Hugging Face dataset folder (see :mod:`tasks.export.dataset` for the layout)
that ``datasets.load_dataset(out)`` reads offline. A plain function, not a Prefect flow: it
is one local, seconds-long step with nothing to retry or resume, and runs without a server.
The command line (``flows.cli.export``) prints its log lines on stderr as its progress.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tasks.common.hub import HubUnavailable, check_repo_id, push_folder
from tasks.common.progress import Progress
from tasks.export.card import render_card
from tasks.export.dataset import check_out_dir, open_run, staged_folder, write_config
from tasks.export.plots import write_charts
from tasks.runs.manifest import check_run_id
from tasks.runs.profile import profile_rows
from tasks.storage.store import open_store

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
        card = render_card(run.manifest, profile, configs, plots, repo_id=repo_id,
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
