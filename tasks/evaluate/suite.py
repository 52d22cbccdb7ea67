"""Pick the tasks of an evaluation, run mteb on one model, file the results mteb's way.

Results land where mteb's own results cache puts them (:mod:`tasks.evaluate.units`)::

    {store}/evals/results/{model_name_as_path}/{revision}/{TaskName}.json     # mteb TaskResult JSON

so ``mteb.ResultCache(cache_path="{store}/evals").load_results()`` reads them back.

>>> [t.metadata.name for t in select_tasks(["LeeDocumentSimilarity"])]
['LeeDocumentSimilarity']
"""

from __future__ import annotations

import logging
import warnings

from tasks.benchmarks.mteb_tasks import offline_tasks
from tasks.evaluate.benchmark import (  # noqa: F401  (TaskSelectionError, OFFLINE_TASKS: part of this module's API)
    OFFLINE_BENCHMARK,
    OFFLINE_TASKS,
    TaskSelectionError,
    benchmark_task_names,
    check_hub,
    mteb_benchmark,
)
from tasks.evaluate.units import save_result
from tasks.storage.store import Store


def check_task_names(names: list[str] | None, benchmark: str | None = None, dry_run: bool = False) -> list[str]:
    """Validate names before anything loads: the tasks of ``benchmark`` (default: the offline suite, or
    any offline or standard MTEB task named); standard tasks only when the hub is on, unless ``dry_run``."""
    selected = benchmark_task_names(benchmark, names)
    if not dry_run:
        check_hub(selected, benchmark)
    return selected


def select_tasks(names: list[str] | None = None, bible_samples: int = 2000, bbc_per_label: int | None = None,
                 seed: int = 42, benchmark: str | None = None, dry_run: bool = False) -> list:
    """Fresh task instances for ``names`` (default: all of ``benchmark``, or the offline suite), in order;
    ``dry_run``: standard tasks also while the hub is off (their metadata ships with mteb, not their data).

    A named mteb benchmark's own task objects are used: they carry its choice of subsets and
    languages (``MTEB(eng, v2)`` keeps the English part of multilingual tasks).
    """
    import mteb

    names = check_task_names(names, benchmark, dry_run)
    offline = {t.metadata.name: t for t in offline_tasks(bible_samples, bbc_per_label, seed)}
    members = {} if benchmark in (None, OFFLINE_BENCHMARK) else {t.metadata.name: t
                                                                  for t in mteb_benchmark(benchmark).tasks}
    return [offline[n] if n in offline else members[n] if n in members else mteb.get_task(n) for n in names]


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


def save_results(store: Store, meta, task_results: list) -> list[str]:
    """File each ``TaskResult`` in mteb's layout (:mod:`tasks.evaluate.units`); return their URLs."""
    return [save_result(store, meta, result) for result in task_results]


def main_scores(task_results: list) -> dict[str, float]:
    """Task name -> its main score (mean over splits and subsets), as mteb reports it."""
    return {r.task_name: float(r.get_score()) for r in task_results}
