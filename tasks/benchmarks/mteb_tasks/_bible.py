"""What the three Bible tasks share: their provenance metadata, the verse sample, the retrieval task.

The sample is drawn once per seed from the verse pairs whose texts are unique on both sides
(:func:`tasks.benchmarks.data.bible.distinct_pairs`), so every query has exactly one right answer.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from mteb.abstasks.retrieval import AbsTaskRetrieval

from tasks.benchmarks.data.bible import VersePair, distinct_pairs, load_bible_pairs, sample_pairs

DEFAULT_N_SAMPLES = 2000

# Keyword arguments for TaskMetadata common to every Bible task.
BIBLE_METADATA: dict[str, Any] = {
    # mteb never downloads these tasks (load_data is overridden): the "dataset" records where the
    # data comes from and which package versions were read.
    "dataset": {"path": "debian:sword-text-web+sword-text-sparv+sword-text-kjv", "revision": "426.0-1+2.60-1+14.3-1"},
    "reference": "https://ebible.org/web/",
    "category": "t2t",
    "modalities": ["text"],
    "eval_splits": ["test"],
    "date": ("1909-01-01", "2015-12-31"),  # Reina-Valera 1909 and the WEB's 2015 edition
    "domains": ["Religious", "Written"],
    "task_subtypes": [],
    # Both translations are public domain (see /usr/share/doc/sword-text-{web,sparv}/copyright);
    # mteb has no "public domain" value, so the licence is the publisher's page that says so.
    "license": "https://ebible.org/web/",
    "annotations_creators": "derived",  # pairs come from verse numbering, checked by Strong's numbers
    "dialect": [],
    "sample_creation": "found",
    "bibtex_citation": "",
}

BIBLE_DESCRIPTION = (
    "Verses of the World English Bible (2015) and the Spanish Reina-Valera (1909), aligned by "
    "reference from Debian's SWORD modules; verses whose Spanish numbering is shifted (detected "
    "through Strong's numbers against the KJV) or whose text repeats are excluded. {what}"
)


def bible_sample(n_samples: int, seed: int) -> list[VersePair]:
    """``n_samples`` distinct verse pairs drawn with ``seed``, in canonical order."""
    return sample_pairs(distinct_pairs(load_bible_pairs()), n_samples, seed)


def retrieval_split(queries: list[str], documents: list[str]) -> dict[str, Any]:
    """mteb's retrieval split: query i has exactly one relevant document, document i."""
    return {
        "queries": Dataset.from_dict({"id": [f"q{i}" for i in range(len(queries))], "text": queries}),
        "corpus": Dataset.from_dict({"id": [f"d{i}" for i in range(len(documents))], "text": documents}),
        "relevant_docs": {f"q{i}": {f"d{i}": 1} for i in range(len(queries))},
        "top_ranked": None,
    }


class BibleRetrieval(AbsTaskRetrieval):
    """Verses in ``query_language`` as queries, their translations among ``n_samples`` documents.

    Subclasses set ``metadata`` and ``query_language`` ("en" or "es"); the documents are the
    other language's side of the same sample, so every document is some query's answer.
    """

    query_language: str

    def __init__(self, n_samples: int = DEFAULT_N_SAMPLES, seed: int = 42, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.n_samples = n_samples

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        pairs = bible_sample(self.n_samples, self.seed)
        document_language = "es" if self.query_language == "en" else "en"
        queries = [getattr(p, self.query_language) for p in pairs]
        documents = [getattr(p, document_language) for p in pairs]
        self.dataset = {"default": {"test": retrieval_split(queries, documents)}}
        self.data_loaded = True
