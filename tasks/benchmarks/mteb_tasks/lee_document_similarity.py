"""LeeDocumentSimilarity: does cosine similarity rank document pairs as people do?

All 1,225 pairs of the Lee corpus's 50 news documents, each with its mean human rating.
mteb's STS task embeds both sides of every pair and reports the Spearman correlation between
cosine similarity and the ratings (main score). The ratings are stored on the study's 1–5
scale (the gensim file's 0.2–1.0 times 5), which ``min_score``/``max_score`` map back to 0–1.

Every document appears in 49 pairs: wrap the model in
:class:`tasks.evaluate.encoders.DedupEncoder` to embed each document once instead of 49 times.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset, DatasetDict
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata

from tasks.benchmarks.data.lee import load_lee, rated_pairs
from tasks.benchmarks.instructions import TASK_INSTRUCTIONS

NAME = "LeeDocumentSimilarity"


class LeeDocumentSimilarity(AbsTaskSTS):
    """Spearman correlation of cosine similarity with human ratings over 1,225 document pairs."""

    min_score = 1
    max_score = 5

    metadata = TaskMetadata(
        name=NAME,
        description=(
            "50 news documents from the Australian Broadcasting Corporation's news mail service; every pair "
            "was rated for similarity by students on a 1-5 scale (Lee, Pincombe & Welsh, 2005). Data from "
            "gensim's test data (lee.cor, similarities0-1.txt)."
        ),
        # mteb never downloads this task (load_data is overridden): path and revision record the source.
        dataset={"path": "pypi:gensim/gensim/test/test_data/lee.cor", "revision": "4.4.0"},
        reference="https://github.com/piskvorky/gensim/blob/develop/gensim/test/test_data/lee.cor",
        type="STS",
        category="t2t",
        modalities=["text"],
        eval_splits=["test"],
        eval_langs=["eng-Latn"],
        main_score="cosine_spearman",
        prompt=TASK_INSTRUCTIONS[NAME],  # symmetric: both documents of a pair are queries
        # The events reported (Abu Nidal's death, the Australian Democrats' leadership crisis) date
        # the documents to 2002.
        date=("2002-01-01", "2002-12-31"),
        domains=["News", "Written"],
        task_subtypes=[],
        license="lgpl",  # distributed inside gensim, LGPL-2.1
        annotations_creators="human-annotated",
        dialect=[],
        sample_creation="found",
        bibtex_citation=r"""@inproceedings{lee2005empirical,
  author = {Lee, Michael D. and Pincombe, Brandon and Welsh, Matthew},
  booktitle = {Proceedings of the 27th Annual Conference of the Cognitive Science Society},
  pages = {1254--1259},
  title = {An Empirical Evaluation of Models of Text Document Similarity},
  year = {2005},
}""",
    )

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        corpus = load_lee()
        pairs = rated_pairs(corpus)
        self.dataset = DatasetDict(
            {
                "test": Dataset.from_dict(
                    {
                        "sentence1": [corpus.documents[i] for i, _, _ in pairs],
                        "sentence2": [corpus.documents[j] for _, j, _ in pairs],
                        "score": [rating * 5 for _, _, rating in pairs],
                    }
                )
            }
        )
        self.data_loaded = True
