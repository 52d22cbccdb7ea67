"""BibleRetrievalEsEn: a Spanish verse as the query, the sampled English verses as the corpus.

The mirror of :mod:`bible_retrieval_en_es` over the same sample (same seed, same verses); an
English-only model usually scores differently in the two directions, since here it must
understand the Spanish query rather than the Spanish documents.

    task = BibleRetrievalEsEn(n_samples=2000)
"""

from __future__ import annotations

from mteb.abstasks.task_metadata import TaskMetadata

from tasks.benchmarks.instructions import TASK_INSTRUCTIONS
from tasks.benchmarks.mteb_tasks._bible import BIBLE_DESCRIPTION, BIBLE_METADATA, BibleRetrieval

NAME = "BibleRetrievalEsEn"


class BibleRetrievalEsEn(BibleRetrieval):
    """Spanish verse -> its English translation among ``n_samples`` English verses."""

    query_language = "es"
    metadata = TaskMetadata(
        name=NAME,
        description=BIBLE_DESCRIPTION.format(what="Queries are Spanish verses, documents English verses."),
        type="Retrieval",
        eval_langs=["spa-Latn", "eng-Latn"],
        main_score="ndcg_at_10",
        prompt={"query": TASK_INSTRUCTIONS[NAME]},
        **BIBLE_METADATA,
    )
