"""Labelled pairs in sentence-transformers' columns, beside synthesis runs: read, checked, mixed by weight."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tasks.train.config import LABELLED_INSTRUCTION, TrainConfig
from tasks.train.data import batch_schedule, load_pairs, load_split, pairs_digest
from tasks.train.sources import LABELLED_TASK_TYPE, read_labelled, source_kind
from tasks.train.text import format_query
from tests.support.runs import training_run


def labelled_parquet(folder: Path, n: int = 12, prefix: str = "L", files: int = 2, **columns) -> str:
    """A folder of ``files`` Parquet files with ``n`` rows: anchor, positive, negative_1, negative_2."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame({"anchor": [f"{prefix} question {i}" for i in range(n)],
                          "positive": [f"{prefix} answer {i}" for i in range(n)],
                          "negative_1": [f"{prefix} wrong {i}" for i in range(n)],
                          "negative_2": [f"{prefix} far {i}" if i % 2 else None for i in range(n)], **columns})
    for k in range(files):
        frame[k::files].write_parquet(folder / "sub" / f"part-{k}.parquet" if k else folder / f"part-{k}.parquet",
                                      mkdir=True)
    return f"file://{folder}"


def labelled_datasets(folder: Path, n: int = 10, dict_split: bool = False) -> str:
    """A ``datasets`` folder written by ``save_to_disk``: query, positive, negative columns."""
    import datasets

    data = datasets.Dataset.from_dict({"query": [f"D question {i}" for i in range(n)],
                                       "positive": [f"D answer {i}" for i in range(n)],
                                       "negative": [f"D wrong {i}" for i in range(n)]})
    (datasets.DatasetDict({"train": data}) if dict_split else data).save_to_disk(str(folder))
    return str(folder)


def test_a_parquet_folder_becomes_pairs_with_the_labelled_instruction(tmp_path):
    url = labelled_parquet(tmp_path / "pq")
    assert source_kind(url) == "parquet" and source_kind(training_run(tmp_path, "r1", 3)) == "run"
    pairs = load_pairs([url], negatives_per_query=2, labelled_instruction="Find the answer.")
    assert len(pairs) == 12 and {p.task_type for p in pairs} == {LABELLED_TASK_TYPE}
    first = next(p for p in pairs if p.positive == "L answer 1")
    assert first.query == format_query("Find the answer.", "L question 1")
    assert first.negatives == ("L wrong 1", "L far 1")  # negative_1, negative_2 in order
    assert next(p for p in pairs if p.positive == "L answer 0").negatives == ("L wrong 0",)  # a null one left out
    assert [p.negatives for p in load_pairs([url], labelled_instruction="x")][0] == ("L wrong 0",)  # capped at 1


@pytest.mark.parametrize("dict_split", [False, True])
def test_a_datasets_folder_saved_to_disk_is_read_offline(tmp_path, dict_split):
    url = labelled_datasets(tmp_path / "ds", dict_split=dict_split)
    assert source_kind(url) == "datasets"
    pairs = load_pairs([url], labelled_instruction=LABELLED_INSTRUCTION)
    assert len(pairs) == 10 and pairs[3].positive == "D answer 3" and pairs[3].negatives == ("D wrong 3",)
    assert pairs[3].query == format_query(LABELLED_INSTRUCTION, "D question 3")


def test_a_hub_name_without_the_hub_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="hf://nobody/nothing: cannot load the hub dataset"):
        load_pairs(["hf://nobody/nothing"], labelled_instruction="x")


@pytest.mark.parametrize("columns, message", [
    ({"question": ["q"], "answer": ["a"]}, "needs the columns anchor (or query) and positive"),
    ({"anchor": ["q"], "positive": [1]}, "column(s) positive must hold text, found Int64"),
    ({"anchor": ["", None], "positive": ["a", "b"]}, "no training rows"),
])
def test_a_labelled_set_of_the_wrong_shape_is_one_error_naming_it(tmp_path, columns, message):
    pl.DataFrame(columns).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=f"bad.parquet: .*{message.replace('(', '.').replace(')', '.')}"):
        load_pairs([str(tmp_path / "bad.parquet")], labelled_instruction="x")


def test_empty_rows_and_exact_duplicates_are_left_out(tmp_path):
    pl.DataFrame({"anchor": ["q", "q", "  ", "r", "s"], "positive": ["p", "p", "x", "", "t"]}).write_parquet(
        tmp_path / "rows.parquet")
    rows = read_labelled(str(tmp_path / "rows.parquet"))
    assert rows.select("query", "positive").rows() == [("q", "p"), ("s", "t")]


def test_mixed_by_weight_each_source_gets_its_share_of_the_steps(tmp_path):
    # Given a synthesis run (one negative per row), a Parquet set and a datasets folder, weighted 2:1:1 ...
    run = training_run(tmp_path, "r1", 40)
    sources = [run, labelled_parquet(tmp_path / "pq", n=20), labelled_datasets(tmp_path / "ds", n=20)]
    pairs = load_pairs(sources, weights=[2, 1, 1], seed=0, labelled_instruction="x")
    # ... when 300 batches are cut from the mix, then each source holds its weight's share of the pairs trained on.
    schedule = batch_schedule(pairs, batch_size=4, steps=300, seed=0)
    seen = [p.positive.split(" ")[0].split("-")[0] for batch in schedule for p in batch]
    shares = {source: seen.count(source) / len(seen) for source in ("r1", "L", "D")}
    assert shares == pytest.approx({"r1": 0.5, "L": 0.25, "D": 0.25}, abs=0.05), shares


def test_the_digest_changes_with_any_source_or_weight(tmp_path):
    run, labelled = training_run(tmp_path, "r1", 20), labelled_parquet(tmp_path / "pq", n=20)

    def digest(urls, weights=None):
        split = load_split(urls, weights, seed=0, labelled_instruction="x", holdout_fraction=0.0)
        return pairs_digest(split.train + split.heldout)

    both = digest([run, labelled])
    assert both != digest([run]) and both != digest([run, labelled], [3, 1])
    labelled_parquet(tmp_path / "pq", n=21)  # the labelled set gains a row
    assert digest([run, labelled]) != both


def test_labelled_rows_overlapping_evaluation_data_are_left_out(tmp_path, monkeypatch):
    from flows.train import exclude_labelled_overlap
    from tasks.clean.settings import CleanSettings

    monkeypatch.setenv("SYNTHEMBED_CACHE", str(tmp_path / "cache"))  # the index this builds is cached there
    verse = "In the beginning God created the heaven and the earth and the earth was without form and void"
    (tmp_path / "eval.txt").write_text(verse + "\n")
    url = labelled_parquet(tmp_path / "pq", n=6, files=1)
    pl.DataFrame({"anchor": ["what came first"], "positive": [f"Some say: {verse}."]}).write_parquet(
        tmp_path / "pq" / "overlap.parquet")
    config = TrainConfig(data=[training_run(tmp_path, "r1", 8), url], base_model="m", out=f"file://{tmp_path}/o")
    settings = CleanSettings(offline_suite=False, evaluation_files=[str(tmp_path / "eval.txt")])
    assert exclude_labelled_overlap(config, settings) == 1 and len(config.excluded_rows) == 1
    pairs = load_pairs(config.data, labelled_instruction="x", excluded=frozenset(config.excluded_rows))
    assert len(pairs) == 8 + 6 and not any(verse in p.positive for p in pairs)
