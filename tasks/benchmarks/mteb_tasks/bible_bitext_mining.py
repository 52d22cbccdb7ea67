"""BibleBitextMining: find each verse's translation among all sampled verses, both directions.

Two subsets over the same sample: ``eng-spa`` mines each English verse's Spanish translation
among all Spanish verses of the sample, ``spa-eng`` the reverse. mteb scores each subset by
nearest-neighbour matching (F1 of the predicted index against the gold one, as for Tatoeba)
and averages the two for the main score.

    task = BibleBitextMining(n_samples=2000)   # the default; tests use a few hundred
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset, DatasetDict
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining

from tasks.benchmarks.instructions import TASK_INSTRUCTIONS
from tasks.benchmarks.mteb_tasks._bible import BIBLE_DESCRIPTION, BIBLE_METADATA, DEFAULT_N_SAMPLES, bible_sample

NAME = "BibleBitextMining"


class BibleBitextMining(AbsTaskBitextMining):
    """English↔Spanish verse mining over ``n_samples`` seeded verse pairs."""

    metadata = TaskMetadata(
        name=NAME,
        description=BIBLE_DESCRIPTION.format(what="Mine each verse's translation among all sampled verses."),
        type="BitextMining",
        eval_langs={"eng-spa": ["eng-Latn", "spa-Latn"], "spa-eng": ["spa-Latn", "eng-Latn"]},
        main_score="f1",
        prompt=TASK_INSTRUCTIONS[NAME],  # symmetric: both sides are queries
        **BIBLE_METADATA,
    )

    def __init__(self, n_samples: int = DEFAULT_N_SAMPLES, seed: int = 42, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.n_samples = n_samples

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        pairs = bible_sample(self.n_samples, self.seed)
        english, spanish = [p.en for p in pairs], [p.es for p in pairs]
        # mteb mines sentence1 -> sentence2 only, so each direction is its own subset.
        self.dataset = {
            "eng-spa": DatasetDict({"test": Dataset.from_dict({"sentence1": english, "sentence2": spanish})}),
            "spa-eng": DatasetDict({"test": Dataset.from_dict({"sentence1": spanish, "sentence2": english})}),
        }
        self.data_loaded = True
