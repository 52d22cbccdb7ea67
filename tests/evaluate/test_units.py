"""Per-unit filing, resume and retry: what is filed is skipped, a failing unit fails alone, the retry
runs only that unit, and mteb's own ResultCache reads what we file.

Real mteb runs over real offline tasks (small samples) with the random baseline, whose encode calls
are counted per task.
"""

from __future__ import annotations

from collections import Counter

import mteb
import pytest

from tasks.evaluate.config import EvalConfig
from tasks.evaluate.encoders import RandomEncoder
from tasks.evaluate.models import load_encoder, model_revision, parse_model
from tasks.evaluate.runner import score_model
from tasks.evaluate.suite import select_tasks

pytestmark = pytest.mark.usefixtures("offline")
TASKS = ["LeeDocumentSimilarity", "BibleRetrievalEnEs", "BibleBitextMining"]


class CountingEncoder(RandomEncoder):
    """The random baseline, counting the texts it embeds per task; raises on the tasks in ``fail_on``."""

    def __init__(self, fail_on: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.fail_on, self.calls = fail_on, Counter()

    def embed_inputs(self, texts, task_metadata, prompt_type):
        if task_metadata.name in self.fail_on:
            raise RuntimeError(f"boom in {task_metadata.name}")
        self.calls[task_metadata.name] += len(texts)
        return super().embed_inputs(texts, task_metadata, prompt_type)


def _score(config: EvalConfig, encoder: CountingEncoder, bible_samples: int = 30):
    tasks = select_tasks(TASKS, bible_samples=bible_samples)
    return score_model(parse_model("random"), tasks, config, cache_dir=None, encoder=encoder)


def test_a_failing_unit_fails_alone_and_the_retry_runs_only_it(tmp_path):
    config = EvalConfig(models=["random"], store=f"file://{tmp_path}")
    # Given a model whose BibleRetrievalEnEs unit fails,
    first = _score(config, CountingEncoder(fail_on=("BibleRetrievalEnEs",)))
    # then the two other units finish and are filed, that one is reported failed.
    assert set(first.failed) == {"BibleRetrievalEnEs"} and "boom" in first.failed["BibleRetrievalEnEs"]
    assert set(first.scores) == {"LeeDocumentSimilarity", "BibleBitextMining"}
    folder = tmp_path / "evals" / "results" / "synthembed__random-baseline" / "1"
    assert sorted(p.stem for p in folder.glob("*.json")) == ["BibleBitextMining", "LeeDocumentSimilarity", "model_meta"]

    # When the same units run again, only the failed one reaches the encoder.
    retry = CountingEncoder()
    second = _score(config, retry)
    assert set(retry.calls) == {"BibleRetrievalEnEs"} and retry.calls["BibleRetrievalEnEs"] == 60  # 30 + 30 texts
    assert sorted(second.skipped) == ["BibleBitextMining", "LeeDocumentSimilarity"] and not second.failed
    assert second.scores["LeeDocumentSimilarity"] == first.scores["LeeDocumentSimilarity"]

    # And mteb's own loader reads every filed unit, with our scores.
    loaded = mteb.ResultCache(cache_path=tmp_path / "evals").load_results(
        models=["synthembed/random-baseline"], tasks=TASKS, include_remote=False, require_model_meta=False)
    (model,) = loaded.model_results
    assert {r.task_name: round(r.get_score(), 4) for r in model.task_results} == {
        name: round(score, 4) for name, score in second.scores.items()}


def test_a_result_for_another_sample_is_not_taken(tmp_path):
    """The offline tasks put sample size and seed in their dataset revision: 30 verses' result is not 40's."""
    config = EvalConfig(models=["random"], store=f"file://{tmp_path}")
    _score(config, CountingEncoder())
    again = CountingEncoder()
    outcome = _score(config, again, bible_samples=40)
    assert outcome.skipped == ["LeeDocumentSimilarity"]  # every pair of the corpus, whatever the sample
    assert set(again.calls) == {"BibleRetrievalEnEs", "BibleBitextMining"}


@pytest.mark.parametrize("name", ["random", "e5-small", "minilm"])
def test_the_revision_known_before_loading_is_the_one_filed_after(name, tmp_path):
    spec = parse_model(name)
    assert model_revision(spec, tmp_path) == load_encoder(spec, tmp_path).mteb_model_meta.revision
