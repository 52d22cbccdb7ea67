"""The run's filters over committed rows: near-duplicates and contamination are counted in the
manifest by reason and shard, readers leave the dropped rows out, and nothing is rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from flows.cli import main
from tasks.benchmarks.data.bible import load_bible_pairs
from tasks.runs.manifest import Manifest, load_manifest, save_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.support.real_text import passage
from tests.support.runs import row, write_run
from tests.support.waiting import wait_for

DOC = ("Tides are the rise and fall of sea levels caused by the gravitational pull of the moon and the sun. "
       "Most coasts see two high tides and two low tides every lunar day. The range depends on the shape of the "
       "coastline and the depth of the water. Spring tides happen at full and new moon, neap tides in between.")


# The meaning checks and the mining off: these rows' documents are filler text, not answers (tests/clean/ checks those).
NO_TEACHER = ["--meaning", "off", "--mine-negatives", "0"]

# The rows' other columns: retrieval examples in English, each with the same unrelated negative.
RETRIEVAL = {"task_type": "retrieval", "task": "Given a question, find answers.",
             "negative": "An unrelated document about gardening and soil.", "template_id": "retrieval.generate.v2a",
             "placeholders": json.dumps({"num_words": 50}), "completion_tokens": 1, "shard_seed": 1}


@pytest.fixture
def run(tmp_path):
    verse = next(p.en for p in load_bible_pairs() if len(p.en.split()) >= 20)
    rows = [
        row(1, query="How do ocean tides work?", positive=DOC, **RETRIEVAL),
        row(2, query="how do ocean tides work", positive=passage("en", 300, seed=1), **RETRIEVAL),  # the same query, another document
        row(3, query="Why are there two tides a day?", positive=DOC.replace("two high tides", "2 high tides"),
            **RETRIEVAL),  # the same document
        row(4, query="What is a neap tide?", positive=passage("en", 300, seed=2), **RETRIEVAL),
        row(5, query="What does Genesis say?", positive=f"Many readers start here. {verse} That is the opening of the story.",
            **RETRIEVAL),
        row(6, query="Distinct question about volcanoes?", positive=passage("en", 300, seed=3), **RETRIEVAL),
    ]
    store_url = f"file://{tmp_path}/store"
    store = open_store(store_url)
    write_run(store, "r1", rows)
    return store_url, store, tmp_path


def test_near_duplicates_and_a_planted_evaluation_verse_are_dropped_and_counted(run, capsys):
    store_url, store, tmp_path = run
    before = {p: p.read_bytes() for p in (tmp_path / "store/runs/r1/data").rglob("*.parquet")}
    assert main(["clean", "--run-id", "r1", "--store", store_url, *NO_TEACHER]) == 0
    manifest = load_manifest(store, "r1")
    near, dirty = manifest.filters["near_duplicates"], manifest.filters["contamination"]
    assert near.counts == {"near_duplicate_document": 1, "near_duplicate_query": 1}
    assert near.by_shard == {"retrieval/en": near.counts}
    assert dirty.counts == {"contaminated": 1} and dirty.details["evaluation_texts"] > 50_000
    assert any(source.startswith("offline:Bible") for source in dirty.details["by_source"])
    kept = scan_run(store, "r1").collect()["example_id"].to_list()
    assert sorted(kept) == [f"{i:016x}" for i in (1, 4, 6)]  # first of each pair kept, the verse's row dropped
    assert scan_run(store, "r1", filtered=False).collect().height == 6  # nothing rewritten
    assert before == {p: p.read_bytes() for p in (tmp_path / "store/runs/r1/data").rglob("*.parquet")}
    verdicts = pl.read_parquet(near.path)
    assert set(verdicts["duplicate_of"]) == {f"{1:016x}"}
    out = capsys.readouterr().out
    assert "near_duplicate_query" in out and "contaminated" in out

    assert main(["status", "--run-id", "r1", "--store", store_url]) == 0
    assert "filtered" in capsys.readouterr().out


def test_mark_keeps_contaminated_rows_and_a_user_file_is_a_source(run, tmp_path):
    store_url, store, _ = run
    planted = tmp_path / "my_eval.txt"
    planted.write_text("The range depends on the shape of the coastline and the depth of the water.\n", encoding="utf-8")
    assert main(["clean", "--run-id", "r1", "--store", store_url]) == 0  # the defaults first, then mark instead
    assert main(["clean", "--run-id", "r1", "--store", store_url, *NO_TEACHER, "--decontaminate", "mark", "--no-offline-suite",
                 "--no-near-dedup", "--eval-texts", str(planted)]) == 0
    manifest = load_manifest(store, "r1")
    assert set(manifest.filters) == {"contamination"}
    # the earlier verdict files are gone: the filters folder holds what the manifest names, only
    assert [p.name for p in (tmp_path / "store/runs/r1/filters").iterdir()] == [Path(manifest.filters["contamination"].path).name]
    entry = manifest.filters["contamination"]
    assert entry.action == "mark" and entry.counts == {"contaminated": 2}  # rows 1 and 3 hold that sentence
    assert entry.details["by_source"] == {f"file:{planted}": 2}
    assert scan_run(store, "r1").collect().height == 6  # marked, not dropped


def test_a_missing_evaluation_file_is_one_error_before_anything_changes(run, capsys):
    store_url, _, tmp_path = run
    manifest_before = (tmp_path / "store/runs/r1/manifest.json").read_bytes()
    assert main(["clean", "--run-id", "r1", "--store", store_url, "--eval-texts", "/no/such/file.txt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/no/such/file.txt" in err[0] and "--eval-texts" in err[0]
    assert (tmp_path / "store/runs/r1/manifest.json").read_bytes() == manifest_before
    assert not (tmp_path / "store/runs/r1/filters").exists()


def test_bad_filter_flags_are_one_line(run, capsys):
    store_url, _, _ = run
    assert main(["clean", "--run-id", "r1", "--store", store_url, "--query-threshold", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --query-threshold 0.0: Input should be greater than 0"]


def test_a_run_without_committed_rows_gets_no_filter_work(tmp_path):
    store = open_store(f"file://{tmp_path}/store")
    save_manifest(store, Manifest(run_id="empty", shards={}))
    assert main(["clean", "--run-id", "empty", "--store", f"file://{tmp_path}/store"]) == 0
    assert load_manifest(store, "empty").filters == {}


def _taken_during_filters(monkeypatch, module, store) -> list[str]:
    """The filters of ``module`` run while another writer breaks the run's lease and takes it.

    The lease is renewed every 0.1 s here (ttl 0.3 s); the filters go on only once its holder has
    noticed (``lease.lost``), so they always end after the takeover was seen.
    Returns the token of the lease the other writer holds (filled in when it takes it).
    """
    import contextlib

    import flows.clean
    from tasks.clean.filters import clean_run as real_clean_run
    from tasks.storage.lease import RunLease, break_lease, holding_lease

    held, taker = [], []

    @contextlib.asynccontextmanager
    async def short_lease(store_, run_id):
        async with holding_lease(store_, run_id, ttl_s=0.3) as lease:
            held.append(lease)
            yield lease

    def clean_run_while_taken(store_, manifest, settings, llm=None):
        break_lease(store, manifest.run_id)  # `synthembed unlock`, then another process starts
        taker.append(RunLease(store, manifest.run_id).acquire().token)
        wait_for(held[-1].lost.is_set)  # the first holder's renewal found the lease taken
        return real_clean_run(store_, manifest, settings, llm)

    monkeypatch.setattr(module, "holding_lease", short_lease)
    for owner in {flows.clean, module}:  # wherever the filters are looked up from
        if hasattr(owner, "clean_run"):
            monkeypatch.setattr(owner, "clean_run", clean_run_while_taken)
    return taker


def test_a_lease_taken_while_clean_runs_saves_nothing(run, monkeypatch, capsys):
    import flows.clean

    store_url, store, _ = run
    before = (store.fs.open(store.path("runs", "r1", "manifest.json"), "rb").read())
    taker = _taken_during_filters(monkeypatch, flows.clean, store)
    assert main(["clean", "--run-id", "r1", "--store", store_url]) == 2
    assert "was taken while the filters ran; nothing was saved" in capsys.readouterr().err
    assert store.fs.open(store.path("runs", "r1", "manifest.json"), "rb").read() == before
    assert store.read_json(store.path("runs", "r1", "lease.json"))["token"] == taker[0]  # the new writer's stands


def test_a_lease_taken_while_synthesis_filters_run_saves_nothing(prefect_api, tmp_path, monkeypatch, capsys):
    import flows.synthesize
    from tests.support.fake_openai import FakeOpenAI

    store_url = f"file://{tmp_path}"
    store = open_store(store_url)
    taker = _taken_during_filters(monkeypatch, flows.synthesize, store)
    with FakeOpenAI() as server:
        code = main(["synthesize", "--store", store_url, "--llm-base-url", server.base_url, "--llm-model", server.model,
                     "--languages", "en", "--task-types", "sts", "--examples-per-shard", "4", "--run-id", "r2"])
    assert code == 1 and "was taken while the filters ran; nothing was saved" in capsys.readouterr().err
    manifest = load_manifest(store, "r2")
    assert manifest.total_rows() == 4 and not manifest.filters  # the parts are committed, no verdict saved
    assert store.read_json(store.path("runs", "r2", "lease.json"))["token"] == taker[0]
