"""Redo only the failed or unfinished shards of a synthesis run, with its original parameters and seeds.

    synthembed retry --run-id RUN_ID [--languages es,de]     # or the `retry` deployment

:func:`plan_retry` is the one retry implementation: the command line (``flows.cli.synthesize``)
and the ``retry`` flow below both plan with it, then run the ``synthesize`` flow on the shards it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, get_run_logger

from flows.synthesize import open_checked_store, synthesize
from tasks.runs.manifest import find_run
from tasks.storage.store import Store
from tasks.synth.config import DEFAULT_STORE, SynthesisConfig
from tasks.synth.run import retry_plan
from tasks.synth.summary import SynthesisSummary


@dataclass(frozen=True)
class Retry:
    """What a retry redoes: the run's stored configuration (with the overrides asked for) and its unfinished shards."""

    config: SynthesisConfig
    shards: list[str]  # keys like ``sts/es``; empty: nothing to redo
    selected: bool  # only some languages were asked for

    def describe(self) -> str:
        """One line: what the retry redoes, or that there is nothing to redo."""
        if not self.shards:
            which = "selected " if self.selected else ""
            return f"nothing to retry: every {which}shard of {self.config.run_id} is complete"
        return f"retrying {len(self.shards)} shard(s) of {self.config.run_id}: {', '.join(self.shards)}"


def plan_retry(store: Store, store_url: str, run_id: str, languages: list[str] | None = None,
               llm_base_url: str | None = None, llm_model: str | None = None,
               budget_tokens: int | None = None, budget_usd: float | None = None) -> Retry:
    """The retry of run ``run_id``: RunNotFound when there is none; ValueError when it stored no
    configuration, ``languages`` names one the run does not have, or an override is invalid.

    ``store`` is opened from ``store_url`` (the URL as given is the one the retried run records).
    Every other argument left None keeps the run's own value: another endpoint (the original one
    may be gone), a raised budget for a run the budget stopped.
    """
    config, todo = retry_plan(find_run(store, run_id), store_url, languages)
    if languages is not None and (missing := [code for code in languages if code not in config.languages]):
        raise ValueError(f"--languages {','.join(missing)}: run {run_id!r} has no such language; "
                         f"its languages: {','.join(config.languages)}")
    llm = {k: v for k, v in {"base_url": llm_base_url, "model": llm_model}.items() if v}
    budgets = {k: v for k, v in {"budget_tokens": budget_tokens, "budget_usd": budget_usd}.items() if v is not None}
    # validated as a new run's are (model_copy would not): a negative budget is refused here, before any spend
    stored = config.model_dump(mode="json")
    config = SynthesisConfig.model_validate({**stored, "llm": {**stored["llm"], **llm}, **budgets})
    return Retry(config, todo, selected=languages is not None)


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
    plan = plan_retry(open_checked_store(store), store, run_id, languages, llm_base_url, llm_model)
    logger.info(plan.describe())
    if not plan.shards:
        return None
    return await synthesize(plan.config, only_shards=plan.shards)
