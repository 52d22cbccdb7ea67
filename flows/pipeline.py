"""The whole pipeline as one parent flow: synthesize → train → evaluate, each a subflow in the UI.

    synthembed pipeline                       # embedded defaults: what `make run` runs
    synthembed pipeline --languages en,es,de --steps 200 --llm-base-url URL --llm-model NAME

Stages hand each other store URLs (see ``tasks.pipeline``): the synthesis run, the trained
model, the evaluation report. Everything checkable is checked before the first LLM call; the
subflows are named after the run (``synthesize-``, ``train-``, ``evaluate-{run_id}``).
"""

from __future__ import annotations

import time
from contextlib import nullcontext

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.evaluate import evaluate
from flows.services import start_embedded_llm
from flows.synthesize import synthesize
from flows.train import train
from tasks.clean.filters import check_evaluation_sources
from tasks.common.report import markdown_table
from tasks.evaluate.config import EvalConfig
from tasks.pipeline import check_stages, plan_stages
from tasks.synth.config import SynthesisConfig
from tasks.train.config import TrainConfig


def check_pipeline(synthesis: SynthesisConfig, training: TrainConfig, evaluation: EvalConfig,
                   resume_training: bool) -> None:
    """The checks of all three stages that can run before any data exists (the CLI runs them before Prefect starts).

    What needs the synthesized data (training pairs) or the trained model is checked by that stage's subflow.
    """
    check_stages(synthesis, training, evaluation, resume_training)
    check_evaluation_sources(synthesis.clean)


@task(name="check-pipeline-inputs", cache_policy=NO_CACHE)
def check_inputs(synthesis: SynthesisConfig, training: TrainConfig, evaluation: EvalConfig, resume_training: bool) -> None:
    check_pipeline(synthesis, training, evaluation, resume_training)


@flow(name="pipeline", flow_run_name="pipeline-{synthesis.run_id}")
async def pipeline(
    synthesis: SynthesisConfig,
    training: TrainConfig,
    evaluation: EvalConfig,
    embedded_llm: bool = False,
    resume_training: bool = False,
    checked: bool = False,
) -> dict:
    """Generate data, fine-tune on it, and score the result against its base and the baselines.

    Args:
        synthesis: the synthesis run (its store and run id name everything downstream).
        training: sizes and base model; ``data`` is set to the synthesis run, ``out`` defaults
            to ``{store}/models/{run_id}``.
        evaluation: tasks and sizes; the trained model is put first in ``models``.
        embedded_llm: start the embedded llama.cpp server for synthesis (``synthesis.llm`` is then ignored).
        resume_training: continue a training run whose checkpoints are already under ``training.out``.
        checked: the caller already ran :func:`check_pipeline` on these configs (the CLI does): do not repeat it.
    """
    logger, started = get_run_logger(), time.perf_counter()
    training, evaluation = plan_stages(synthesis, training, evaluation)
    if not checked:
        check_inputs(synthesis, training, evaluation, resume_training)
    seconds = {}

    with start_embedded_llm(synthesis) if embedded_llm else nullcontext(synthesis) as synthesis:
        if embedded_llm:
            logger.info("embedded LLM server at %s (%s)", synthesis.llm.base_url, synthesis.llm.model)
        data = await synthesize(synthesis, checked=True)  # its evaluation sources: checked with the pipeline's inputs
    seconds["synthesize"] = time.perf_counter() - started
    logger.info("synthesis: %d rows at %s", data.rows, data.data_url)

    trained = train(training, resume=resume_training)  # its own input check: the data exists only now
    seconds["train"] = time.perf_counter() - started - seconds["synthesize"]
    logger.info("training: loss %.3f -> %.3f, model at %s", trained["first_loss"], trained["last_loss"], trained["model"])

    report = evaluate(evaluation)  # likewise: the trained model exists only now
    seconds["evaluate"] = time.perf_counter() - started - seconds["synthesize"] - seconds["train"]
    summary = {"run_id": synthesis.run_id, "data": data.data_url, "rows": data.rows, "model": trained["model"],
               "loss_plot": trained["loss_plot"], "first_loss": trained["first_loss"], "last_loss": trained["last_loss"],
               "report": report["report"], "plot": report["plot"], "table": report["table"],
               "passkey": report["passkey"], "seconds": {k: round(v, 1) for k, v in seconds.items()}}
    timing = [{"stage": stage, "seconds": round(s, 1)} for stage, s in seconds.items()]
    await create_markdown_artifact(key="pipeline-summary", description=f"Pipeline run {synthesis.run_id}", markdown="\n".join([
        f"## Pipeline {synthesis.run_id}", "", f"- data: `{data.data_url}` ({data.rows} rows)",
        f"- model: `{trained['model']}` (loss {trained['first_loss']:.3f} → {trained['last_loss']:.3f})",
        f"- report: `{report['report']}`", "", markdown_table(report["table"]), "", markdown_table(timing)]))
    return summary
