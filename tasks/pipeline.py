"""How the three stages connect: the URLs one stage hands the next, and the checks made before any of them.

synthesize writes ``{store}/runs/{run_id}``; training reads it and writes ``{out}`` (default
``{store}/models/{run_id}``); evaluation scores ``{out}/model`` against its untrained base and
the baselines, filing results under ``{store}/evals``.

>>> from tasks.evaluate.config import EvalConfig
>>> from tasks.synth.config import SynthesisConfig
>>> from tasks.train.config import TrainConfig
>>> s = SynthesisConfig(store="file:///d", run_id="r1", llm={"base_url": "http://x/v1", "model": "m"})
>>> t, e = plan_stages(s, TrainConfig(data=[], base_model="smollm2-135m", out=""), EvalConfig(baselines=True))
>>> t.data, t.out, e.models, e.base_model, e.store
(['file:///d/runs/r1'], 'file:///d/models/r1', ['file:///d/models/r1/model'], 'smollm2-135m', 'file:///d')
"""

from __future__ import annotations

import dataclasses

from tasks.evaluate.config import EvalConfig
from tasks.evaluate.devices import resolve_device
from tasks.evaluate.models import check_model
from tasks.evaluate.suite import check_task_names
from tasks.storage.store import check_store, open_store
from tasks.synth.config import SynthesisConfig
from tasks.train.base_model import check_base_model
from tasks.train.config import TrainConfig
from tasks.train.launch import has_checkpoints


def plan_stages(synthesis: SynthesisConfig, training: TrainConfig,
                evaluation: EvalConfig) -> tuple[TrainConfig, EvalConfig]:
    """Training and evaluation configs wired to the synthesis run's URLs (new objects; inputs untouched)."""
    store = open_store(synthesis.store)
    training = dataclasses.replace(training, data=[store.url("runs", synthesis.run_id)],
                                   out=training.out or store.url("models", synthesis.run_id))
    model_url = training.out.rstrip("/") + "/model"
    evaluation = dataclasses.replace(evaluation, models=[model_url, *evaluation.models], store=synthesis.store,
                                     base_model=evaluation.base_model or training.base_model)
    return training, evaluation


def check_stages(synthesis: SynthesisConfig, training: TrainConfig, evaluation: EvalConfig,
                 resume_training: bool = False) -> None:
    """Everything checkable before the first LLM call; raises ``ValueError``/``StoreError`` with one clear message."""
    check_store(open_store(synthesis.store))
    training.validate()
    check_base_model(training.base_model)
    if has_checkpoints(training.out) and not resume_training:
        raise ValueError(f"{training.out} already holds checkpoints of a training run: pass resume_training "
                         "(--resume) to continue it, or choose another output")
    evaluation.validate()
    check_task_names(evaluation.tasks, evaluation.benchmark)
    resolve_device(evaluation.device)
    trained = training.out.rstrip("/") + "/model"
    for spec in evaluation.specs():
        if spec.location != trained:  # the model this run trains does not exist yet
            check_model(spec)
