"""Redo only the failed or unfinished shards of a synthesis run, with its original parameters and seeds.

    synthembed retry --run-id RUN_ID [--languages es,de]     # or the `retry` deployment
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.synthesize import open_checked_store, synthesize
from tasks.runs.manifest import load_manifest
from tasks.synth.config import DEFAULT_STORE
from tasks.synth.run import retry_plan
from tasks.synth.summary import SynthesisSummary


@flow(name="retry", flow_run_name="retry-{run_id}")
async def retry(
    run_id: str,
    store: str = DEFAULT_STORE,
    languages: list[str] | None = None,
    llm_base_url: str | None = None,
    llm_model: str | None = None,
) -> SynthesisSummary | None:
    """Re-run the shards the manifest lists as failed or pending; complete shards are untouched.

    Args:
        run_id: the synthesis run to complete.
        store: the store URL that holds it.
        languages: only shards of these languages (default: every unfinished shard).
        llm_base_url: another endpoint than the run's (the original one may be gone).
        llm_model: the model name on ``llm_base_url``.
    """
    logger = get_run_logger()
    opened = open_checked_store(store)
    manifest = load_manifest(opened, run_id)
    if manifest is None:
        raise FileNotFoundError(f"no synthesis run {run_id!r} in {opened.url()}")
    config, todo = retry_plan(manifest, store, languages)
    if not todo:
        logger.info("nothing to retry: every selected shard of %s is complete", run_id)
        return None
    llm = config.llm.model_copy(update={k: v for k, v in {"base_url": llm_base_url, "model": llm_model}.items() if v})
    logger.info("retrying %d shard(s): %s", len(todo), ", ".join(todo))
    return await synthesize(config.model_copy(update={"llm": llm}), only_shards=todo)
