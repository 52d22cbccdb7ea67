"""BibleRetrievalEnEs: an English verse as the query, the sampled Spanish verses as the corpus.

Each query has one relevant document, its translation, so nDCG@10 mostly measures how often
that translation ranks first (with credit for ranks 2–10). The corpus is the same sample the
queries come from: every document is some query's answer, none is filler.

    task = BibleRetrievalEnEs(n_samples=2000)   # 2,000 queries over 2,000 documents
"""

from __future__ import annotations

from mteb.abstasks.task_metadata import TaskMetadata

from tasks.benchmarks.instructions import TASK_INSTRUCTIONS
from tasks.benchmarks.mteb_tasks._bible import BIBLE_DESCRIPTION, BIBLE_METADATA, BibleRetrieval

NAME = "BibleRetrievalEnEs"


class BibleRetrievalEnEs(BibleRetrieval):
    """English verse -> its Spanish translation among ``n_samples`` Spanish verses."""

    query_language = "en"
    metadata = TaskMetadata(
        name=NAME,
        description=BIBLE_DESCRIPTION.format(what="Queries are English verses, documents Spanish verses."),
        type="Retrieval",
        eval_langs=["eng-Latn", "spa-Latn"],
        main_score="ndcg_at_10",
        prompt={"query": TASK_INSTRUCTIONS[NAME]},  # documents get no instruction (E5)
        **BIBLE_METADATA,
    )
