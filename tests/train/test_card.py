"""The model card training writes: front matter, the rows training read, hyperparameters, loss
curve, no credentials, and a hub push that fails clearly offline and keeps the model.

Runs are the small run of :mod:`tests.support.small_run` (3 task types × 3 languages, a planted
secret in the manifest); no Ray: the card functions are called directly, the train command with
a stand-in for the training flow. The Evaluation section is the evaluation's:
``tests/evaluate/test_card.py``.
"""

from __future__ import annotations

import json
import re
import secrets

import polars as pl
import pytest

from tasks.common.cards import public_url
from tasks.common.plots import loss_curve_png
from tasks.storage.store import check_store, open_store
from tasks.train.card import CARD_FILE, EVALUATION_FILE, LOSS_IMAGE, read_training_data, write_model_card
from tasks.train.data import read_run
from tests.support.model_card import DROPPED, HISTORY, front_matter, table_row, train_config, trained_model
from tests.support.small_run import ROWS, SECRET, make_run


@pytest.fixture
def trained(tmp_path):
    """A run with a drop filter, and the card written for a model trained on it: (config, model folder)."""
    return trained_model(tmp_path)


def test_the_card_describes_the_rows_training_read_and_how_it_trained(trained):
    config, model = trained
    card = (model / CARD_FILE).read_text()

    meta = front_matter(card)
    assert meta["library_name"] == "sentence-transformers"
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the alias's hub id
    assert meta["language"] == ["en", "es", "fr", "ja"]  # fr: the bitext rows' other side
    assert {"sentence-transformers", "feature-extraction", "synthembed"} <= set(meta["tags"])
    assert meta["license"] == "other" and "generator" in meta["license_name"]

    # Counts are of the rows read_run gives training: committed, minus the drop filter's.
    rows = read_run(config.data[0])
    assert rows.height == sum(ROWS.values()) - len(DROPPED) and not set(DROPPED) & set(rows["example_id"])
    header = table_row(card, "language")
    for code, name in [("en", "English"), ("es", "Spanish"), ("ja", "Japanese")]:
        cells = dict(zip(header, table_row(card, f"{code} ({name})")))
        for task_type in ("retrieval", "sts", "bitext"):
            expected = rows.filter(pl.col("task_type") == task_type, pl.col("language") == code).height
            assert int(cells[task_type]) == expected, (code, task_type)
    assert table_row(card, "**total**")[-1] == str(rows.height)
    assert table_row(card, "`r1`")[2] == str(rows.height)

    for name, value in [("batch_size", "4"), ("steps", "3"), ("learning_rate", "0.0003"), ("lora_rank", "8"),
                        ("base_model", "smollm2-135m"), ("temperature", "0.02")]:
        assert table_row(card, f"`{name}`") == [f"`{name}`", f"`{value}`"]
    assert "first try" in card and SECRET not in card  # extra: notes kept, credential-like names left out

    assert f"![training loss]({LOSS_IMAGE})" in card and f"]({LOSS_IMAGE})" in card
    assert (model / LOSS_IMAGE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    throughput = dict(zip(table_row(card, "steps"), table_row(card, "1-3")))
    assert throughput["first_loss"] == "3.2109" and throughput["last_loss"] == "1.0625"
    assert throughput["tokens_per_s"] == "500.0"  # the median: step 1's warm-up does not drag it down

    assert 'prompt_name="query"' in card and json.dumps(config.query_instruction)[1:-1] in card
    assert "## Evaluation\n\nNot evaluated yet" in card


def test_no_credentials_reach_a_card_made_from_object_storage(s3_env):
    bucket = f"synthembed-{secrets.token_hex(4)}"
    check_store(open_store(f"s3://{bucket}"))
    make_run(f"s3://{bucket}/store")
    config = train_config(f"s3://{bucket}/store/runs/r1", f"s3://{bucket}/models/m1")

    url = write_model_card(config, HISTORY, loss_curve_png(HISTORY))
    store = open_store(config.out)
    card = store.fs.cat_file(store.path("model", CARD_FILE)).decode()

    assert url == f"s3://{bucket}/models/m1/model/{CARD_FILE}"
    assert f"`s3://{bucket}/store/runs/r1`" in card and table_row(card, "**total**")[-1] == str(sum(ROWS.values()))
    for secret in (s3_env.access_key, s3_env.secret_key, SECRET):
        assert secret not in card
    assert store.exists(store.path("model", LOSS_IMAGE))


def test_urls_in_the_card_lose_user_info_and_signatures(tmp_path):
    store_url = f"file://{tmp_path / 'store'}"
    make_run(store_url)
    data = read_training_data([f"{store_url}/runs/r1"])
    assert data.runs[0]["url"] == f"`{store_url}/runs/r1`"
    assert public_url("s3://AKIAEXAMPLE:s3cr3t@bucket/models/m1?X-Amz-Credential=AKIAEXAMPLE") == "s3://bucket/models/m1"


def test_a_retrained_model_starts_without_the_old_scores(trained):
    config, model = trained
    (model / EVALUATION_FILE).write_text('{"tasks": {"Old": {}}}')
    write_model_card(config, HISTORY, loss_curve_png(HISTORY))
    assert not (model / EVALUATION_FILE).exists() and "Not evaluated yet" in (model / CARD_FILE).read_text()


def test_push_offline_fails_clearly_and_keeps_the_model(trained, monkeypatch):
    import huggingface_hub.constants

    from tasks.common.hub import HubUnavailable
    from tasks.train.hub import push_model

    _, model = trained
    files = sorted(p.name for p in model.iterdir())
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", "hf_planted_token_abc")
    with pytest.raises(HubUnavailable, match="offline mode is on") as caught:
        push_model(f"file://{model}", "someone/m1")
    message = str(caught.value)
    assert f"the model folder is complete at {model}" in message and "--repo-type model" in message
    assert "hf_planted_token_abc" not in message
    assert sorted(p.name for p in model.iterdir()) == files


def test_train_push_to_hub_offline_exits_non_zero_after_the_model_is_stored(trained, monkeypatch, capsys):
    import huggingface_hub.constants

    import flows.train
    import tasks.train.preflight
    from flows.cli import main

    config, model = trained
    calls = []

    def fake_train(config, resume=False, ray_address=None, pairs=None):  # the model is already in the store (fixture)
        calls.append(config)
        return {"model": f"file://{model}", "card": f"file://{model / CARD_FILE}", "adapter": "-", "loss_plot": "-",
                "checkpoint": None, "first_loss": 3.2, "last_loss": 1.1}

    monkeypatch.setattr(tasks.train.preflight, "check_training_inputs", lambda config, resume=False: 27)
    monkeypatch.setattr(flows.train, "train", fake_train)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", "hf_planted_token_abc")
    argv = ["train", "--data", config.data[0], "--base-model", "smollm2-135m", "--out", config.out]

    assert main([*argv, "--push-to-hub", "not a repo"]) == 2 and not calls  # bad repo id: before training
    assert "is not a hub repository id" in capsys.readouterr().err

    card = (model / CARD_FILE).read_text()
    assert main([*argv, "--push-to-hub", "someone/m1"]) == 1 and len(calls) == 1
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "offline" in errors[0] and f"complete at {model}" in errors[0]
    assert "hf_planted_token_abc" not in out + err
    assert re.search(r"^card:\s+file://", out, re.MULTILINE)
    assert (model / CARD_FILE).read_text() == card and (model / LOSS_IMAGE).exists()
