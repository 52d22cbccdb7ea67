"""BibleRetrievalEsEn: a Spanish verse as the query, the sampled English verses as the corpus.

The mirror of :mod:`bible_retrieval_en_es` over the same sample (same seed, same verses); an
English-only model usually scores differently in the two directions, since here it must
understand the Spanish query rather than the Spanish documents.

    task = BibleRetrievalEsEn(n_samples=2000)
"""

from __future__ import annotations

from typing import Any

from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata

from tasks.evaluate.instructions import TASK_INSTRUCTIONS
from tasks.evaluate.mteb_tasks._bible import (
    BIBLE_DESCRIPTION,
    BIBLE_METADATA,
    DEFAULT_N_SAMPLES,
    bible_sample,
    retrieval_split,
)

NAME = "BibleRetrievalEsEn"


class BibleRetrievalEsEn(AbsTaskRetrieval):
    """Spanish verse -> its English translation among ``n_samples`` English verses."""

    metadata = TaskMetadata(
        name=NAME,
        description=BIBLE_DESCRIPTION.format(what="Queries are Spanish verses, documents English verses."),
        type="Retrieval",
        eval_langs=["spa-Latn", "eng-Latn"],
        main_score="ndcg_at_10",
        prompt={"query": TASK_INSTRUCTIONS[NAME]},
        **BIBLE_METADATA,
    )

    def __init__(self, n_samples: int = DEFAULT_N_SAMPLES, seed: int = 42, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.n_samples = n_samples

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        pairs = bible_sample(self.n_samples, self.seed)
        self.dataset = {"default": {"test": retrieval_split([p.es for p in pairs], [p.en for p in pairs])}}
        self.data_loaded = True
