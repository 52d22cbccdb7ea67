"""The evaluation flow: check inputs → score each model with mteb → passkey test → report.

    synthembed evaluate --model file://./models/m1/model --baselines --passkey

Results are filed in mteb's format under ``{store}/evals/{model}/{revision}/``; the comparison
(table, bar chart, passkey curve) under ``{store}/evals/reports/{report_id}/``; each exported model's
card gets its scores. The flow run is named after the first model (``evaluate-{run_id}`` in the pipeline).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from tasks.common.progress import Progress
from tasks.common.report import markdown_table
from tasks.common.settings import Settings
from tasks.evaluate.card import record_evaluation
from tasks.evaluate.config import EvalConfig
from tasks.evaluate.models import ModelSpec, ModelSpecError, load_encoder, parse_model, with_local_copies
from tasks.evaluate.passkey import load_with_rope_theta, model_encoder, run_passkey
from tasks.evaluate.plots import passkey_png, scores_png
from tasks.evaluate.preflight import check_evaluation
from tasks.evaluate.suite import main_scores, run_tasks, save_results, select_tasks
from tasks.storage.store import open_store


@task(name="check-evaluation-inputs", cache_policy=NO_CACHE)
def check_inputs(config: EvalConfig) -> list[ModelSpec]:
    return check_evaluation(config)


@task(name="fetch-models", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE)
def fetch_models(specs: list[ModelSpec]) -> list[ModelSpec]:
    return with_local_copies(specs, Settings().cache)


@task(name="evaluate-model", task_run_name="evaluate-{spec.label}", cache_policy=NO_CACHE)
def evaluate_model(spec: ModelSpec, config: EvalConfig, progress: Progress) -> dict:
    """Every task of the suite on one model; results filed in the store as each task finishes."""
    logger, started = get_run_logger(), time.perf_counter()
    encoder = load_encoder(spec, Settings().cache, config.max_length, config.batch_size)
    store = open_store(config.store)
    scores, urls = {}, []
    for mteb_task in select_tasks(config.tasks, config.bible_samples, config.bbc_per_label, config.seed):
        task_started = time.perf_counter()
        results = run_tasks(encoder, [mteb_task], config.batch_size)  # one at a time: progress per task
        urls += save_results(store, encoder.mteb_model_meta, results)
        scores.update(main_scores(results))
        progress.advance()
        logger.info("%s  %s = %.4f (%s, %.0f s)", spec.label, mteb_task.metadata.name, scores[mteb_task.metadata.name],
                    mteb_task.metadata.main_score, time.perf_counter() - task_started)
    return {"label": spec.label, "scores": scores, "results": urls, "seconds": time.perf_counter() - started}


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


def score_rows(results: list[dict]) -> list[dict]:
    """One row per model: its main score per task (4 decimals) and the mean over tasks."""
    rows = []
    for result in results:
        scores = result["scores"]
        row = {"model": result["label"], **{name: round(value, 4) for name, value in scores.items()}}
        row["mean"] = round(sum(scores.values()) / max(len(scores), 1), 4)
        rows.append(row)
    return rows


@task(name="write-report", cache_policy=NO_CACHE)
def write_report(config: EvalConfig, results: list[dict], passkey: dict[str, list[dict]]) -> dict:
    """The comparison table, bar chart and passkey curve under ``evals/reports/{id}``, and the artifact."""
    store = open_store(config.store)
    report_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = ("evals", "reports", report_id)
    rows = score_rows(results)
    store.write_bytes(store.path(*folder, "scores.png"), scores_png([{k: v for k, v in r.items() if k != "mean"} for r in rows]))
    report = {"table": rows, "passkey": passkey, "config": config.to_dict(),
              "results": {r["label"]: r["results"] for r in results},
              "seconds": {r["label"]: round(r["seconds"], 1) for r in results}}
    store.write_json(store.path(*folder, "scores.json"), report)
    markdown = [f"## Evaluation {report_id}", "", markdown_table(rows), "", f"Chart: `{store.url(*folder, 'scores.png')}`"]
    if passkey:
        store.write_bytes(store.path(*folder, "passkey.png"), passkey_png(passkey))
        passkey_rows = [{"model": label, **{f"{r['length']} tokens": r["accuracy"] for r in by_length}}
                        for label, by_length in passkey.items()]
        markdown += ["", "### Passkey retrieval (top-1 accuracy)", "", markdown_table(passkey_rows)]
    create_markdown_artifact(key="evaluation-scores", markdown="\n".join(markdown),
                             description=f"mteb main scores, {len(rows)} model(s)")
    return {"report": store.url(*folder), "plot": store.url(*folder, "scores.png"), "table": rows,
            "passkey": passkey, "passkey_plot": store.url(*folder, "passkey.png") if passkey else None}


def run_name() -> str:
    """``evaluate-`` and the first model's label (an exported ``{out}/model`` is labelled by its ``out``)."""
    models = flow_run.parameters["config"].models
    try:
        return f"evaluate-{parse_model(models[0]).label}" if models else "evaluate-baselines"
    except ModelSpecError:  # the input check reports it, in the run that bears this name
        return "evaluate"


@flow(name="evaluate", flow_run_name=run_name)
def evaluate(config: EvalConfig, checked: bool = False) -> dict:
    """Score models with mteb on the offline suite (or named MTEB tasks), optionally the passkey test.

    Args:
        config: the models (exported folders/URLs, ``base:SPEC``, baselines), tasks, sizes, store.
        checked: the caller already ran :func:`check_evaluation` on ``config`` (the CLI does, before
            Prefect starts): do not check again.

    Returns:
        ``{"report", "plot", "table", "passkey", "passkey_plot"}``: URLs and the model × task rows.
    """
    logger = get_run_logger()
    # As given: model cards are updated there, not in local cache copies.
    named = config.specs() if checked else check_inputs(config)
    specs = fetch_models(named)
    n_tasks = len(select_tasks(config.tasks, config.bible_samples, config.bbc_per_label, config.seed))
    logger.info("evaluating %d model(s) on %d task(s): %s", len(specs), n_tasks, ", ".join(s.label for s in specs))
    progress = Progress(len(specs) * n_tasks, "model × task", logger, every=1 / max(1, len(specs) * n_tasks))
    results = [evaluate_model(spec, config, progress) for spec in specs]  # one at a time: each fills the cores
    progress.close()
    passkey = {spec.label: passkey_model(spec, config) for spec in specs if spec.is_decoder} if config.passkey else {}
    report = write_report(config, results, passkey)
    for spec in named:
        if spec.kind == "exported" and record_evaluation(spec.location, spec.label, results, passkey):
            logger.info("%s: scores added to its model card (README.md)", spec.label)
    return report
