"""Mined negatives: hard but never the positive, a near copy of it, or anything scoring near it;
a row without a negative gains one; the run's readers see them as ``mined_negatives``."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from tasks.clean.embedding_cache import RunVectors
from tasks.clean.filters import clean_run
from tasks.clean.mining import mine_negatives
from tasks.clean.settings import CleanSettings
from tasks.runs.manifest import load_manifest, save_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.clean.teachers import WordTeacher
from tests.support.clean_frames import frame, sentences
from tests.support.runs import row, write_run


def _word_trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def _jaccard(a: str, b: str) -> float:
    x, y = _word_trigrams(a), _word_trigrams(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def _near_copy(document: str) -> str:
    """The document with its first word (which its query shares) changed: it scores a little under the
    positive, and one word trigram of 60 or more differs (Jaccard ≥ 0.96)."""
    words = document.split()
    return " ".join(["Meanwhile"] + words[1:])


@pytest.fixture
def rows(lee_background) -> pl.DataFrame:
    """Short–short rows of real news (query: a story's first sentence, positive: the story), no negatives;
    every third story has a near copy as another row's positive."""
    stories = [d for d in lee_background if 60 <= len(d.split()) <= 200][:30]
    built = []
    for i, story in enumerate(stories):
        built.append({"example_id": f"r{i:02d}", "task_type": "short_short", "query": sentences(story)[0],
                      "positive": story})
        if i % 3 == 0:
            built.append({"example_id": f"c{i:02d}", "task_type": "short_short",
                          "query": f"Another question number {i} about nothing in particular",
                          "positive": _near_copy(story)})
    return frame(built)


@pytest.mark.parametrize("score_ratio", [0.95, 1.0])  # 1.0: near copies score under the bar, only Jaccard stops them
def test_mined_negatives_are_never_the_positive_a_near_copy_or_near_its_score(rows, tmp_path, score_ratio):
    teacher = WordTeacher()
    vectors = RunVectors(open_store(f"file://{tmp_path}/s"), "r1", teacher)
    mined = mine_negatives(rows, vectors, per_query=3, score_ratio=score_ratio)
    by_id = dict(zip(rows["example_id"], rows.iter_rows(named=True)))
    # Then every story's row, none of which had a negative, gains some: up to 3, distinct (a planted copy's
    # row, whose query hardly matches its positive, may have nothing under its bar)
    assert {i for i in rows["example_id"] if i.startswith("r")} <= set(mined["example_id"])
    for example_id, negatives in mined.iter_rows():
        source = by_id[example_id]
        assert 1 <= len(negatives) <= 3 and len(set(negatives)) == len(negatives)
        q, p = teacher.embed([source["query"], source["positive"]], "query")
        for negative in negatives:
            assert negative != source["positive"]
            assert _jaccard(negative, source["positive"]) < 0.9, (example_id, negative)
            assert float(q @ teacher.embed([negative], "query")[0]) < score_ratio * float(q @ p) + 1e-6
    # And the near copies were there to be taken: under the positive's score, above every other document
    for story in ("r00", "r03", "r06"):
        q = teacher.embed([by_id[story]["query"]], "query")[0]
        scores = {text: float(q @ v) for text, v in zip(rows["positive"], teacher.embed(rows["positive"].to_list(), "query"))}
        ranked = sorted(scores, key=scores.get, reverse=True)
        assert ranked[:2] == [by_id[story]["positive"], _near_copy(by_id[story]["positive"])]
        assert scores[ranked[1]] < scores[ranked[0]]


def test_own_negative_is_not_mined_again_and_zero_mines_nothing(tmp_path):
    rows = frame([
        {"example_id": "a", "query": "red apple pie recipe", "positive": "how to bake a red apple pie",
         "negative": "how to bake a pear tart"},
        {"example_id": "b", "query": "blue sky weather", "positive": "why the sky looks blue", "negative": "red sunsets"},
        {"example_id": "c", "query": "apple tart", "positive": "an apple tart with cream", "negative": None},
    ])
    vectors = RunVectors(open_store(f"file://{tmp_path}/s"), "r1", WordTeacher())
    mined = dict(mine_negatives(rows, vectors, per_query=5).iter_rows())
    assert "how to bake a pear tart" not in mined["a"] and "how to bake a red apple pie" not in mined["a"]
    assert mined["c"][0] in ("how to bake a red apple pie", "how to bake a pear tart")  # the closest first
    assert mine_negatives(rows, vectors, per_query=0).is_empty()


def test_clean_mines_for_kept_rows_only_and_readers_get_mined_negatives(tmp_path, monkeypatch):
    # Given a run of short-short rows without negatives, one of them a near-duplicate query (dropped)
    from tasks.clean import teacher as teacher_module

    monkeypatch.setattr(teacher_module, "load_teacher", lambda spec, threads=None: WordTeacher())
    texts = ["solar panels on the roof", "wind turbines at sea", "hydro power from rivers", "geothermal heat pumps"]
    built = [row(i, task_type="short_short", query=f"question about {t}", positive=f"an answer on {t}", negative=None)
             for i, t in enumerate(texts)]
    built.append(row(9, task_type="short_short", query="Question about solar panels on the roof!",
                     positive="a forbidden text that is dropped as a duplicate", negative=None))
    store = open_store(f"file://{tmp_path}/store")
    manifest = write_run(store, "r1", built)
    # When the run is cleaned (no decontamination, meaning checks off: only the mining after near-dedup)
    cleaned = clean_run(store, manifest, CleanSettings(decontaminate="off", meaning="off", mine_negatives=2))
    save_manifest(store, cleaned)
    # Then the mined file is an "add" entry, every kept row gained negatives, and no dropped text is among them
    entry = load_manifest(store, "r1").filters["mined_negatives"]
    assert entry.action == "add" and entry.counts["rows_given_a_first_negative"] == 4
    read = scan_run(store, "r1", mined_negatives=True).collect()
    assert read.height == 4 and read.schema["mined_negatives"] == pl.List(pl.String)
    for positive, negatives in read.select("positive", "mined_negatives").iter_rows():
        assert 1 <= len(negatives) <= 2 and positive not in negatives
        assert "a forbidden text that is dropped as a duplicate" not in negatives
    assert "mined_negatives" not in scan_run(store, "r1").collect().columns  # only when asked for
    # And training reads them: each pair's negatives are the mined ones, up to --negatives-per-query
    from tasks.train.data import read_run, to_pairs

    pairs = to_pairs(read_run(f"file://{tmp_path}/store/runs/r1"), negatives_per_query=2)
    mined = {f"Instruct: t\nQuery: {q}": list(n) for q, n in read.select("query", "mined_negatives").iter_rows()}
    assert {p.query: list(p.negatives) for p in pairs} == mined


def test_a_run_never_mined_reads_with_empty_lists(tmp_path):
    store = open_store(f"file://{tmp_path}/store")
    write_run(store, "r1", [row(1), row(2)])
    read = scan_run(store, "r1", mined_negatives=True).collect()
    assert read["mined_negatives"].to_list() == [[], []]
    assert np.array_equal(read["example_id"].to_numpy(), np.array([f"{1:016x}", f"{2:016x}"]))
