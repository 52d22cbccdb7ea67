"""The evaluation flow: check inputs → score every (model × task) unit with mteb → passkey test → report.

    synthembed evaluate --model file://./models/m1/model --baselines --passkey
    synthembed evaluate --model file://./models/m1/model --benchmark "MTEB(eng, v2)" --num-workers 8 --use-gpu

Units run in this process, one model after another, or on Ray workers (``--num-workers``). Results
are filed in mteb's layout under ``{store}/evals/results/{model}/{revision}/`` as each unit finishes;
a unit already filed is skipped, a failing one fails alone (:mod:`tasks.evaluate.units`). The comparison
(table, bar chart, passkey curve) under ``{store}/evals/reports/{report_id}/``; each exported model's
card gets its scores. The flow run is named after the first model (``evaluate-{run_id}`` in the pipeline).
"""

from __future__ import annotations

from datetime import datetime, timezone

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from tasks.common.progress import Progress
from tasks.common.report import markdown_table
from tasks.common.settings import Settings
from tasks.evaluate.aggregate import aggregate_rows
from tasks.evaluate.benchmark import OFFLINE_BENCHMARK
from tasks.evaluate.card import record_evaluation
from tasks.evaluate.config import EvalConfig
from tasks.evaluate.models import ModelSpec, ModelSpecError, parse_model, with_local_copies
from tasks.evaluate.passkey import load_with_rope_theta, model_encoder, run_passkey
from tasks.evaluate.plots import passkey_png, scores_png
from tasks.evaluate.preflight import check_evaluation
from tasks.evaluate.runner import score_model
from tasks.evaluate.suite import select_tasks
from tasks.evaluate.units import UnitBoard
from tasks.storage.store import open_store


@task(name="check-evaluation-inputs", cache_policy=NO_CACHE)
def check_inputs(config: EvalConfig) -> list[ModelSpec]:
    return check_evaluation(config)


@task(name="fetch-models", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE)
def fetch_models(specs: list[ModelSpec]) -> list[ModelSpec]:
    return with_local_copies(specs, Settings().cache)


class UnitTracker:
    """Progress, log lines and the Prefect UI's per-unit table (artifact ``evaluation-units``), fed as each
    unit finishes, wherever it ran. An artifact rather than a task run per unit: on Ray the units
    run in worker processes that are not Prefect task runs; the driver sees each one finish."""

    def __init__(self, specs: list[ModelSpec], task_names: list[str]) -> None:
        self.board = UnitBoard([s.label for s in specs], task_names)
        self.logger = get_run_logger()
        self.progress = Progress(len(specs) * len(task_names), "model × task", self.logger,
                                 every=1 / max(1, len(specs) * len(task_names)))
        self.publish()

    def __call__(self, model: str, task_name: str, state: str, score: float | None) -> None:
        self.board.mark(model, task_name, state, score)
        self.progress.advance()
        self.logger.info("%s  %s: %s%s", model, task_name, state, "" if score is None else f" = {score:.4f}")
        self.publish()

    def publish(self) -> None:
        create_table_artifact(key="evaluation-units", table=self.board.rows(),
                              description="(model × task) units: pending, skipped (already filed), done, failed")


@task(name="evaluate-model", task_run_name="evaluate-{spec.label}", cache_policy=NO_CACHE)
def evaluate_model(spec: ModelSpec, config: EvalConfig, tracker: UnitTracker) -> dict:
    """Every unit of one model in this process; results filed in the store as each unit finishes."""
    tasks = select_tasks(config.tasks, config.bible_samples, config.bbc_per_label, config.seed, config.benchmark)
    return score_model(spec, tasks, config, Settings().cache,
                       on_unit=lambda name, state, score: tracker(spec.label, name, state, score)).to_dict()


@task(name="fan-out-units", cache_policy=NO_CACHE)
def fan_out(specs: list[ModelSpec], config: EvalConfig, tracker: UnitTracker) -> list[dict]:
    """Every unit on Ray workers, largest first, each worker loading a model once (:mod:`tasks.evaluate.fanout`)."""
    from tasks.evaluate.fanout import run_units

    return run_units(specs, config, on_unit=tracker)


@task(name="passkey", task_run_name="passkey-{spec.label}", cache_policy=NO_CACHE)
def passkey_model(spec: ModelSpec, config: EvalConfig) -> list[dict]:
    """Top-1 passkey accuracy per context length for one decoder model (optionally another RoPE base)."""
    from transformers import AutoTokenizer

    from tasks.train.base_model import resolve_base_model

    logger = get_run_logger()
    path = spec.location if spec.kind == "exported" else resolve_base_model(spec.location)  # local after fetch-models
    model, tokenizer = load_with_rope_theta(path, config.rope_theta), AutoTokenizer.from_pretrained(path)
    embed = model_encoder(model, tokenizer, batch_size=4)
    rows = run_passkey(embed, embed, tokenizer, config.passkey_lengths, config.passkey_docs, config.passkey_queries,
                       config.seed)
    for row in rows:
        logger.info("%s passkey @%d tokens: %.2f top-1 (%d queries, %d candidates)", spec.label, row["length"],
                    row["accuracy"], row["n_queries"], row["n_docs"])
    return rows


def score_rows(results: list[dict], task_names: list[str]) -> list[dict]:
    """One row per model: its main score per task (4 decimals; None where the unit failed) and the mean
    over tasks (None unless every task scored)."""
    rows = []
    for result in results:
        scores = result["scores"]
        row = {"model": result["label"], **{name: round(scores[name], 4) if name in scores else None
                                            for name in task_names}}
        row["mean"] = round(sum(scores.values()) / len(scores), 4) if len(scores) == len(task_names) else None
        rows.append(row)
    return rows


@task(name="write-report", cache_policy=NO_CACHE)
def write_report(config: EvalConfig, results: list[dict], passkey: dict[str, list[dict]],
                 task_types: dict[str, str]) -> dict:
    """The comparison table, the benchmark's aggregate, bar chart and passkey curve under
    ``evals/reports/{id}``, and the artifact."""
    store = open_store(config.store)
    report_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = ("evals", "reports", report_id)
    rows, aggregate = score_rows(results, list(task_types)), aggregate_rows(results, task_types)
    store.write_bytes(store.path(*folder, "scores.png"),
                      scores_png([{k: v for k, v in r.items() if k != "mean" and v is not None} for r in rows]))
    failed = [{"model": r["label"], "task": name, "error": error}
              for r in results for name, error in r["failed"].items()]
    report = {"table": rows, "aggregate": aggregate, "failed": failed, "passkey": passkey, "config": config.to_dict(),
              "results": {r["label"]: r["results"] for r in results},
              "skipped": {r["label"]: r["skipped"] for r in results},
              "seconds": {r["label"]: round(r["seconds"], 1) for r in results}}
    store.write_json(store.path(*folder, "scores.json"), report)
    markdown = [f"## Evaluation {report_id}", "", markdown_table(rows), "",
                f"### {config.benchmark or OFFLINE_BENCHMARK}: mean per task type, as mteb's leaderboard", "",
                markdown_table(aggregate), "", f"Chart: `{store.url(*folder, 'scores.png')}`"]
    if failed:
        markdown += ["", "### Failed units", "", markdown_table(failed)]
    if passkey:
        store.write_bytes(store.path(*folder, "passkey.png"), passkey_png(passkey))
        passkey_rows = [{"model": label, **{f"{r['length']} tokens": r["accuracy"] for r in by_length}}
                        for label, by_length in passkey.items()]
        markdown += ["", "### Passkey retrieval (top-1 accuracy)", "", markdown_table(passkey_rows)]
    create_markdown_artifact(key="evaluation-scores", markdown="\n".join(markdown),
                             description=f"mteb main scores, {len(rows)} model(s)")
    return {"report": store.url(*folder), "plot": store.url(*folder, "scores.png"), "table": rows,
            "aggregate": aggregate, "failed": failed, "passkey": passkey,
            "passkey_plot": store.url(*folder, "passkey.png") if passkey else None}


def run_name() -> str:
    """``evaluate-`` and the first model's label (an exported ``{out}/model`` is labelled by its ``out``)."""
    models = flow_run.parameters["config"].models
    try:
        return f"evaluate-{parse_model(models[0]).label}" if models else "evaluate-baselines"
    except ModelSpecError:  # the input check reports it, in the run that bears this name
        return "evaluate"


@flow(name="evaluate", flow_run_name=run_name)
def evaluate(config: EvalConfig, checked: bool = False) -> dict:
    """Score models with mteb on a benchmark (default: the offline suite) or named tasks, optionally the passkey test.

    Args:
        config: the models (exported folders/URLs, ``base:SPEC``, baselines), tasks, sizes, store.
        checked: the caller already ran :func:`check_evaluation` on ``config`` (the CLI does, before
            Prefect starts): do not check again.

    Returns:
        ``{"report", "plot", "table", "aggregate", "failed", "passkey", "passkey_plot"}``: URLs, the
        model × task rows, the benchmark's aggregate, and the units that failed (retry them).
    """
    logger = get_run_logger()
    # As given: model cards are updated there, not in local cache copies.
    named = config.specs() if checked else check_inputs(config)
    specs = fetch_models(named)
    tasks = select_tasks(config.tasks, config.bible_samples, config.bbc_per_label, config.seed, config.benchmark)
    task_types = {t.metadata.name: t.metadata.type for t in tasks}
    logger.info("evaluating %d model(s) on %d task(s): %s", len(specs), len(tasks), ", ".join(s.label for s in specs))
    tracker = UnitTracker(specs, list(task_types))
    if config.num_workers:
        results = fan_out(specs, config, tracker)
    else:
        results = [evaluate_model(spec, config, tracker) for spec in specs]  # one at a time: each fills the cores
    tracker.progress.close()
    passkey = {spec.label: passkey_model(spec, config) for spec in specs if spec.is_decoder} if config.passkey else {}
    report = write_report(config, results, passkey, task_types)
    for spec in named:
        if spec.kind == "exported" and record_evaluation(spec.location, spec.label, results, passkey):
            logger.info("%s: scores added to its model card (README.md)", spec.label)
    return report
