"""Running tasks the way every evaluation test does: offline mteb, no results cache, one thread."""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def run_tasks(model, tasks) -> dict:
    """Evaluate ``tasks`` with mteb, no results cache, no CO2 tracking; ``{task name: TaskResult}``."""
    import mteb

    # One OpenMP/BLAS thread: on two cores already busy with other work, sklearn's k-means took
    # ~1 s per fit instead of ~10 ms from oversubscription, and torch encoded no slower.
    with threadpool_limits(limits=1):
        results = mteb.evaluate(
            model, tasks, cache=None, co2_tracker=False, encode_kwargs={"batch_size": 32}, show_progress_bar=False
        )
    assert not results.exceptions, results.exceptions
    return {result.task_name: result for result in results.task_results}
