"""The training flow: check inputs → prepare the base model → Ray Train job → loss chart, model card → report.

    synthembed train --data file://./data/runs/RUN_ID --base-model smollm2-135m --out file://./models/m1

The flow run is named after its output folder: ``train-m1`` here, ``train-{run_id}`` in the pipeline
(whose model goes to ``{store}/models/{run_id}``).
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from tasks.common.plots import loss_curve_png
from tasks.common.progress import Progress
from tasks.common.report import format_table
from tasks.storage.store import open_store
from tasks.train.base_model import resolve_base_model
from tasks.train.card import write_model_card
from tasks.train.config import TrainConfig
from tasks.train.launch import launch
from tasks.train.preflight import check_training_inputs


@task(name="check-training-inputs")
def check_inputs(config: TrainConfig, resume: bool) -> int:
    return check_training_inputs(config, resume)


@task(name="prepare-base-model", retries=1, retry_delay_seconds=5)
def prepare_base_model(spec: str) -> str:
    """A local checkpoint folder (GGUF files are dequantised once and cached) or a hub id."""
    return str(resolve_base_model(spec))


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
        logger.info("step %d/%d  loss %.4f  lr %.2e  %.1f tokens/s  %.2f examples/s  %.1f s/step",
                    metrics["step"], config.steps, metrics["loss"], metrics["lr"], metrics["tokens_per_s"],
                    metrics["examples_per_s"], metrics["seconds_per_step"])

    result = launch(config, base_path, on_metrics=on_metrics, address=ray_address)
    progress.close()
    store = open_store(config.out)
    loss_png = loss_curve_png(history, title=f"training loss ({config.base_model})")
    store.write_bytes(store.path("loss.png"), loss_png)
    card = write_model_card(config, history, loss_png)  # {out}/model/README.md, with its own loss.png
    table = [{k: round(v, 5) if isinstance(v, float) else v for k, v in m.items()} for m in history]
    create_table_artifact(key="training-metrics", table=table, description=f"Training of {config.out}")
    summary = {"model": store.url("model"), "card": card, "adapter": store.url("adapter"), "loss_plot": store.url("loss.png"),
               "checkpoint": result.checkpoint.path if result.checkpoint else None,
               "first_loss": history[0]["loss"] if history else None, "last_loss": history[-1]["loss"] if history else None}
    create_markdown_artifact(key="training-summary", markdown="```\n" + format_table([summary]) + "\n```")
    return summary

