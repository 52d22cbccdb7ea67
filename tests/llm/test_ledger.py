"""The request ledger on file:// and on a real S3 server (SeaweedFS): durable, torn-line safe, compacted."""

from __future__ import annotations

import json
import secrets

from tasks.llm.ledger import FLUSH_N, RequestLedger, part_prefix
from tasks.llm.requests import ChatRequest, Completion
from tasks.storage.store import check_store, open_store


def _completion(n: int) -> Completion:
    return Completion(text=json.dumps({"S1": f"s{n}"}), finish_reason="stop", prompt_tokens=10 + n,
                      completion_tokens=5, latency_s=0.25, attempts=2)


def test_answers_are_on_disk_as_they_arrive_and_a_torn_last_line_is_skipped(tmp_path):
    store = open_store(f"file://{tmp_path}")
    part = RequestLedger(store, "r1").open_part("sts/en/2")
    part.record("k1", _completion(1), verdict="kept", label="sts/en example 0 try 0", model="m")
    part.record("k2", _completion(2), verdict="invalid_json")
    # no flush, no close: what a kill -9 leaves behind
    [path] = (tmp_path / "runs/r1/ledger/sts/en/part-00002").glob("*.jsonl")
    with path.open("a") as f:
        f.write('{"key": "k3", "text": "trunc')  # a write torn by the kill
    reopened = RequestLedger(store, "r1").open_part("sts/en/2")
    assert set(reopened.records) == {"k1", "k2"}
    assert reopened.records["k2"]["verdict"] == "invalid_json" and reopened.records["k1"]["label"].startswith("sts/en")
    assert reopened.totals() == {"calls": 2, "prompt_tokens": 23, "completion_tokens": 10, "retries": 2, "seconds": 0.5}


def test_compaction_leaves_one_file_with_every_record(tmp_path):
    store = open_store(f"file://{tmp_path}")
    for session in range(3):  # three attempts of the same part, each with its own file
        ledger = RequestLedger(store, "r1")
        part = ledger.open_part("sts/en/0")
        part.record(f"k{session}", _completion(session), verdict="kept")
        ledger.close_part(part, compact=session == 2)
    files = list((tmp_path / "runs/r1/ledger/sts/en/part-00000").glob("*.jsonl"))
    assert len(files) == 1 and files[0].name.startswith("compact-")
    assert set(RequestLedger(store, "r1").open_part("sts/en/0").records) == {"k0", "k1", "k2"}


def test_object_stores_get_immutable_segments_every_few_dozen_answers(s3_env):
    store = open_store(f"s3://ledger-{secrets.token_hex(3)}/root")
    check_store(store)
    ledger = RequestLedger(store, "r1")
    part = ledger.open_part("bitext/de/0")
    for n in range(FLUSH_N + 3):
        part.record(f"k{n}", _completion(n), verdict="kept")
        if part.flush_due():
            part.flush()
    prefix = part_prefix(store, "r1", "bitext/de/0")
    assert len(store.fs.find(prefix)) == 1  # FLUSH_N answers: one segment; 3 still buffered
    assert len(RequestLedger(store, "r1").open_part("bitext/de/0").records) == FLUSH_N
    ledger.close_part(part, compact=True)
    assert len(RequestLedger(store, "r1").open_part("bitext/de/0").records) == FLUSH_N + 3
    assert len(store.fs.find(prefix)) == 1


def test_the_key_changes_with_model_messages_sampling_and_seed_but_not_the_label():
    base = dict(temperature=1.0, top_p=1.0, max_tokens=512, seed=3)
    key = ChatRequest.user("m", "prompt", **base).key
    assert ChatRequest.user("m", "prompt", **base, label="anything").key == key
    variants = [ChatRequest.user("m2", "prompt", **base), ChatRequest.user("m", "prompt!", **base),
                ChatRequest.user("m", "prompt", **{**base, "temperature": 0.7}),
                ChatRequest.user("m", "prompt", **{**base, "top_p": 0.9}),
                ChatRequest.user("m", "prompt", **{**base, "max_tokens": 1024}),
                ChatRequest.user("m", "prompt", **{**base, "seed": 4}),
                ChatRequest.user("m", "prompt", **base, json_mode=False),
                ChatRequest.user("m", "prompt", **base, extra_body={"repeat_penalty": 1.1})]
    assert len({v.key for v in variants} | {key}) == len(variants) + 1
