"""Pick the tasks of an evaluation, run mteb on one model, file the results mteb's way.

Results land where mteb's own results cache would put them, below ``{store}/evals/``::

    {store}/evals/{model_name_as_path}/{revision}/{TaskName}.json     # mteb TaskResult JSON
    {store}/evals/{model_name_as_path}/{revision}/model_meta.json

so ``mteb.TaskResult.from_disk`` (or mteb's result tooling pointed at a copy) reads them back.

>>> [t.metadata.name for t in select_tasks(["LeeDocumentSimilarity"])]
['LeeDocumentSimilarity']
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

from tasks.benchmarks.mteb_tasks import offline_tasks
from tasks.storage.store import Store

OFFLINE_TASKS = ("BibleBitextMining", "BibleRetrievalEnEs", "BibleRetrievalEsEn", "LeeDocumentSimilarity",
                 "BBCNewsClassification", "BBCNewsClustering")


class TaskSelectionError(ValueError):
    """A task name that cannot run here; the message lists what can."""


def hub_offline() -> bool:
    """True when Hugging Face downloads are switched off (``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def check_task_names(names: list[str] | None) -> list[str]:
    """Validate names before anything loads: offline tasks, or standard MTEB tasks when the hub is on."""
    if not names:
        return list(OFFLINE_TASKS)
    import mteb

    standard = [n for n in names if n not in OFFLINE_TASKS]
    for name in standard:
        try:
            mteb.get_task(name)
        except KeyError as exc:
            raise TaskSelectionError(f"unknown task {name!r}: use the offline tasks ({', '.join(OFFLINE_TASKS)}) "
                                     "or a standard MTEB task name (e.g. STS12, SciFact)") from exc
    if standard and hub_offline():
        raise TaskSelectionError(f"{', '.join(standard)}: standard MTEB tasks download their data from the "
                                 "Hugging Face hub, which is switched off here (HF_HUB_OFFLINE); "
                                 f"offline tasks: {', '.join(OFFLINE_TASKS)}")
    return list(dict.fromkeys(names))


def select_tasks(names: list[str] | None = None, bible_samples: int = 2000, bbc_per_label: int | None = None,
                 seed: int = 42) -> list:
    """Fresh task instances for ``names`` (default: the whole offline suite), in the order given."""
    import mteb

    names = check_task_names(names)
    offline = {t.metadata.name: t for t in offline_tasks(bible_samples, bbc_per_label, seed)}
    return [offline[n] if n in offline else mteb.get_task(n) for n in names]


def run_tasks(encoder, tasks: list, batch_size: int = 16) -> list:
    """Score ``encoder`` on ``tasks`` with mteb; the list of ``TaskResult``, one per task.

    ``cache=None``: results are filed by :func:`save_results`, not in ``~/.cache/mteb``.
    One thread for mteb's own numpy/scikit-learn work, so it does not fight torch for the cores.
    """
    import datasets
    import mteb
    from sklearn.exceptions import UndefinedMetricWarning
    from threadpoolctl import threadpool_limits

    datasets.disable_progress_bars()  # mteb's per-step dataset bars; our progress is per task
    with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
        # Documents carry no instruction by design (E5); mteb warns about it for every retrieval task.
        warnings.filterwarnings("ignore", message="Prompt type 'document' not found")
        # Small samples leave a class unpredicted now and then; the accuracy still says it all.
        warnings.filterwarnings("ignore", category=UndefinedMetricWarning)
        warnings.filterwarnings("ignore", message="To copy construct from a tensor")  # inside mteb's bitext evaluator
        logging.getLogger("mteb.models.abs_encoder").addFilter(_no_document_prompt_warning)
        results = mteb.evaluate(encoder, tasks, cache=None, co2_tracker=False,
                                encode_kwargs={"batch_size": batch_size}, show_progress_bar=False)
    if results.exceptions:
        raise RuntimeError(f"mteb failed on {', '.join(str(e) for e in results.exceptions)}")
    return list(results.task_results)


def _no_document_prompt_warning(record: logging.LogRecord) -> bool:
    return "Prompt type 'document' not found" not in record.getMessage()


def results_prefix(meta) -> str:
    """``{model_name_as_path}/{revision}``, as in mteb's results cache."""
    return f"{meta.model_name_as_path()}/{meta.revision or 'no_revision_available'}"


def save_results(store: Store, meta, task_results: list) -> list[str]:
    """Write each ``TaskResult`` and the model's metadata under ``{store}/evals/``; return their URLs."""
    prefix = results_prefix(meta)
    urls = []
    with tempfile.TemporaryDirectory() as tmp:
        for result in task_results:
            local = Path(tmp) / f"{result.task_name}.json"
            result.to_disk(local)  # mteb's own serialisation: scores rounded, date as a timestamp
            store.write_bytes(store.path("evals", prefix, local.name), local.read_bytes())
            urls.append(store.url("evals", prefix, local.name))
    meta_json = json.loads(meta.model_dump_json(exclude={"loader"}))
    store.write_json(store.path("evals", prefix, "model_meta.json"), meta_json)
    return urls


def main_scores(task_results: list) -> dict[str, float]:
    """Task name -> its main score (mean over splits and subsets), as mteb reports it."""
    return {r.task_name: float(r.get_score()) for r in task_results}
