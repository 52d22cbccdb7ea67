"""The training flow: check inputs → prepare the base model → Ray Train job → loss chart, model card → report.

    synthembed train --data file://./data/runs/RUN_ID --base-model smollm2-135m --out file://./models/m1
    synthembed train --data file://./data/runs/RUN_ID,./labelled/pairs.parquet --data-weights 3,1 ...

Labelled sets mixed in (:mod:`tasks.train.sources`) are checked against evaluation data here, with
the index synthesis runs are decontaminated against (:func:`exclude_labelled_overlap`): training
itself may not import the cleaning stage, the flow may import both.

The flow run is named after its output folder: ``train-m1`` here, ``train-{run_id}`` in the pipeline
(whose model goes to ``{store}/models/{run_id}``).
"""

from __future__ import annotations

import logging

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from tasks.clean.decontaminate import find_contaminated
from tasks.clean.filters import check_evaluation_sources
from tasks.clean.index_cache import cached_index
from tasks.clean.settings import CleanSettings
from tasks.common.plots import loss_curve_png
from tasks.common.progress import Progress
from tasks.common.report import format_table
from tasks.storage.store import open_store
from tasks.train.base_model import resolve_base_model
from tasks.train.card import write_model_card
from tasks.train.config import TrainConfig
from tasks.train.launch import launch
from tasks.train.preflight import check_training_inputs
from tasks.train.sources import read_labelled, row_key, source_kind

log = logging.getLogger(__name__)


def exclude_labelled_overlap(config: TrainConfig, settings: CleanSettings | None = None) -> int:
    """Leave out the labelled rows that share a passage with evaluation data; return how many.

    The same n-gram check (:func:`tasks.clean.decontaminate.find_contaminated`) against the same
    sources (default: the offline suite) as a synthesis run's ``drop`` filter; the rows' keys go
    into ``config.excluded_rows``, which the workers' reader leaves out and a resume compares.
    Synthesis runs are left alone: their own filters already ran.
    """
    labelled = [url for url in config.data if source_kind(url) != "run"]
    if not labelled:
        return 0
    settings = settings or CleanSettings()
    check_evaluation_sources(settings)  # EvaluationSourceMissing: one line, before any spend
    index = cached_index(settings)
    excluded: set[str] = set()
    for url in labelled:
        rows = read_labelled(url)
        frame = pl.DataFrame({"example_id": [row_key(q, p) for q, p in zip(rows["query"], rows["positive"])],
                              "query": rows["query"], "positive": rows["positive"],
                              "negative": rows["negatives"].list.join("\n")})
        found = set(find_contaminated(frame, index)["example_id"].to_list()) if index.texts else set()
        if found:
            log.warning("%s: %d of %d labelled rows overlap evaluation data and are left out", url, len(found), rows.height)
        excluded |= found
    config.excluded_rows = sorted(excluded)
    return len(excluded)


@task(name="check-training-inputs")
def check_inputs(config: TrainConfig, resume: bool) -> int:
    exclude_labelled_overlap(config)
    return check_training_inputs(config, resume)


@task(name="prepare-base-model", retries=1, retry_delay_seconds=5)
def prepare_base_model(spec: str) -> str:
    """A local checkpoint folder (GGUF files are dequantised once and cached) or a hub id."""
    return str(resolve_base_model(spec))


def heldout_summary(history: list[dict]) -> dict:
    """The best held-out loss, its step and accuracy, and the steps trained (fewer than planned after an early stop).

    >>> heldout_summary([{"step": 1, "loss": 3.0, "heldout_loss": 2.0, "heldout_accuracy": 0.5}, {"step": 2, "loss": 1.0}])
    {'steps_trained': 2, 'best_heldout_loss': 2.0, 'best_heldout_step': 1, 'best_heldout_accuracy': 0.5}
    """
    evaluated = [m for m in history if "heldout_loss" in m]
    best = min(evaluated, key=lambda m: m["heldout_loss"], default=None)
    return {"steps_trained": history[-1]["step"] if history else 0,
            "best_heldout_loss": best and best["heldout_loss"], "best_heldout_step": best and best["step"],
            "best_heldout_accuracy": best and best["heldout_accuracy"]}


def run_name() -> str:
    """``train-`` and the last folder of the output URL (``file:///x/models/r1`` → ``train-r1``)."""
    return "train-" + flow_run.parameters["config"].out.rstrip("/").rsplit("/", 1)[-1]


@flow(name="train", flow_run_name=run_name, log_prints=True)
def train(config: TrainConfig, resume: bool = False, ray_address: str | None = None, pairs: int | None = None) -> dict:
    """Fine-tune a decoder LLM into an embedding model on synthesis runs, with Ray Train.

    Args:
        config: data URLs, base model, output URL, sizes and optimiser settings.
        resume: continue the run whose checkpoints are under ``config.out``.
        ray_address: a Ray cluster to join (default: a local Ray on 127.0.0.1).
        pairs: the training pairs the caller's input check counted (the CLI checks before Prefect
            or Ray starts); None: check the inputs here, as a deployment or the pipeline does.
    """
    logger = get_run_logger()
    if pairs is None:
        pairs = check_inputs(config, resume)
    logger.info("%d training pairs; batch %d over %d worker(s), mini-batch %d, %d steps",
                pairs, config.batch_size, config.num_workers, config.mini_batch_size, config.steps)
    base_path = prepare_base_model(config.base_model)

    history: list[dict] = []
    progress = Progress(config.steps, "steps", logger, every=1.0)  # the bar; metrics are logged below

    def on_metrics(metrics: dict) -> None:
        history.append(metrics)
        progress.advance()
        heldout = (f"  held-out loss {metrics['heldout_loss']:.4f}  top-1 {metrics['heldout_accuracy']:.3f}"
                   if "heldout_loss" in metrics else "")
        logger.info("step %d/%d  loss %.4f%s  lr %.2e  %.1f tokens/s  %.2f examples/s  %.1f s/step",
                    metrics["step"], config.steps, metrics["loss"], heldout, metrics["lr"], metrics["tokens_per_s"],
                    metrics["examples_per_s"], metrics["seconds_per_step"])

    result = launch(config, base_path, on_metrics=on_metrics, address=ray_address)
    progress.close()
    store = open_store(config.out)
    loss_png = loss_curve_png(history, title=f"training loss ({config.base_model})")
    store.write_bytes(store.path("loss.png"), loss_png)
    card = write_model_card(config, history, loss_png)  # {out}/model/README.md, with its own loss.png
    columns = dict.fromkeys(k for m in history for k in m)  # held-out columns only on evaluation steps: None elsewhere
    table = [{k: round(v, 5) if isinstance(v := m.get(k), float) else v for k in columns} for m in history]
    create_table_artifact(key="training-metrics", table=table, description=f"Training of {config.out}")
    summary = {"model": store.url("model"), "card": card, "adapter": store.url("adapter"), "loss_plot": store.url("loss.png"),
               "checkpoint": result.checkpoint.path if result.checkpoint else None,
               "first_loss": history[0]["loss"] if history else None, "last_loss": history[-1]["loss"] if history else None,
               **heldout_summary(history)}
    create_markdown_artifact(key="training-summary", markdown="```\n" + format_table([summary]) + "\n```")
    return summary

