"""The model card's Evaluation section (tasks.evaluate.card): filled in place into the card training
wrote, from mteb's own result files, again on every evaluation; a folder training did not write
is left alone."""

from __future__ import annotations

import json

import pytest

from tasks.evaluate.card import record_evaluation
from tasks.storage.store import open_store
from tasks.train.card import CARD_FILE, EVALUATION_FILE, TRAIN_CONFIG_FILE
from tests.support.model_card import front_matter, table_row, trained_model


@pytest.fixture
def trained(tmp_path):
    """The card written for a model trained on the small run: (config, model folder)."""
    return trained_model(tmp_path)


def test_an_evaluation_fills_in_the_card_in_place(trained, tmp_path):
    from tasks.evaluate.encoders import RandomEncoder
    from tasks.evaluate.suite import main_scores, run_tasks, save_results, select_tasks

    _, model = trained
    before = (model / CARD_FILE).read_text()
    # given: a real mteb result, filed by the evaluate stage's own code
    encoder = RandomEncoder()
    task_results = run_tasks(encoder, select_tasks(["LeeDocumentSimilarity"]))
    urls = save_results(open_store(f"file://{tmp_path / 'evals-store'}"), encoder.mteb_model_meta, task_results)
    score = main_scores(task_results)["LeeDocumentSimilarity"]
    results = [{"label": "m1", "scores": {"LeeDocumentSimilarity": score}, "results": urls},
               {"label": "minilm", "scores": {"LeeDocumentSimilarity": 0.6789}, "results": []}]
    passkey = {"m1": [{"length": 256, "accuracy": 0.42, "n_queries": 5, "n_docs": 10}]}

    # when: the evaluate flow records it, twice (a later evaluation re-scores the baseline)
    assert record_evaluation(f"file://{model}", "m1", results, passkey)
    results[1]["scores"]["LeeDocumentSimilarity"] = 0.7
    assert record_evaluation(f"file://{model}", "m1", results)

    # then: one Evaluation section, with the score from the result file, the latest baseline, the passkey
    card = (model / CARD_FILE).read_text()
    assert card.count("## Evaluation") == 1 and "Not evaluated yet" not in card
    cells = dict(zip(table_row(card, "task"), table_row(card, "LeeDocumentSimilarity")))
    assert cells["metric"] == "cosine_spearman" and float(cells["m1 (this model)"]) == pytest.approx(score, abs=1e-4)
    assert cells["minilm"] == "0.7"
    assert table_row(card, "m1") == ["m1", "0.42"]
    assert str(tmp_path / "evals-store" / "evals") in card
    # the rest of the card is as it was
    assert card.split("## Evaluation")[0] == before.split("## Evaluation")[0]
    assert card.split("## Limitations")[1] == before.split("## Limitations")[1]
    assert front_matter(card) == front_matter(before)
    assert json.loads((model / EVALUATION_FILE).read_text())["tasks"]["LeeDocumentSimilarity"]["metric"] == "cosine_spearman"

    # a folder training did not write is left alone
    (model / TRAIN_CONFIG_FILE).unlink()
    assert not record_evaluation(f"file://{model}", "m1", results)
    assert (model / CARD_FILE).read_text() == card
