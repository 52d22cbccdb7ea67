"""BBCNewsClustering: do the embeddings of BBC News articles group by section?

All 2,127 distinct articles are embedded once; mteb then runs k-means (k = 5 sections) on 10
seeded bootstrap draws of 1,024 articles and reports the mean V-measure against the sections.

    task = BBCNewsClustering()                 # all 2,127 articles
    task = BBCNewsClustering(per_label=20)     # 100 articles, for fast tests
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset, DatasetDict
from mteb.abstasks.clustering import AbsTaskClustering
from mteb.abstasks.task_metadata import TaskMetadata

from tasks.benchmarks.instructions import TASK_INSTRUCTIONS
from tasks.benchmarks.mteb_tasks.bbc_news_classification import BBC_METADATA, bbc_articles

NAME = "BBCNewsClustering"
DOCUMENTS_PER_DRAW = 1024


class BBCNewsClustering(AbsTaskClustering):
    """K-means over BBC News article embeddings, scored by V-measure against the five sections."""

    # Embed every article (mteb's default embeds only 4 % of a large corpus).
    max_fraction_of_documents_to_embed = None
    max_document_to_embed = None
    n_clusters = 10  # mteb's name for the number of bootstrap draws, not for k

    metadata = TaskMetadata(
        name=NAME,
        description=(
            "BBC News articles from 2004-2005, exact duplicates removed, clustered into their five sections "
            "(business, entertainment, politics, sport, technology)."
        ),
        type="Clustering",
        main_score="v_measure",
        prompt=TASK_INSTRUCTIONS[NAME],
        task_subtypes=["Thematic clustering"],
        **BBC_METADATA,
    )

    def __init__(self, per_label: int | None = None, seed: int = 42, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.per_label = per_label

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        articles = bbc_articles(self.per_label, self.seed)
        # Draws are with replacement; more draws than articles would only repeat articles.
        self.max_documents_per_cluster = min(DOCUMENTS_PER_DRAW, len(articles))
        sentences, labels = [a.text for a in articles], [a.label for a in articles]
        self.dataset = DatasetDict({"test": Dataset.from_dict({"sentences": sentences, "labels": labels})})
        self.data_loaded = True
