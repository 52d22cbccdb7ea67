"""Relabeling against the fake OpenAI server: the LLM's choice among the teacher's candidates replaces a
positive, the old one becomes a negative only when the LLM finds it irrelevant, training reads the choice,
and a rerun pays nothing. The teacher is the bag-of-words stand-in; the server picks the candidate marked
BEST and counts relevant every candidate not marked IRRELEVANT (tests/support/fake_openai/filter_answers.py)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from flows.cli import main
from tasks.clean.embedding_cache import RunVectors
from tasks.clean.relabel import Unparseable, candidate_lists, choice_parser
from tasks.export.dataset import open_run
from tasks.llm.requests import Completion
from tasks.runs.manifest import load_manifest
from tasks.runs.parts import scan_run
from tasks.runs.schema import TRIPLE_COLUMNS
from tasks.storage.store import open_store
from tasks.train.data import read_run, to_pairs
from tests.clean.teachers import WordTeacher
from tests.support.fake_openai import FakeOpenAI
from tests.support.runs import row, write_run

ONLY_RELABEL = ["--relabel", "--meaning", "off", "--decontaminate", "off", "--no-near-dedup"]
RETRIEVAL = {"task_type": "retrieval", "task": "Given a question, retrieve a passage that answers it."}
# (query, positive): row 0's positive is off-topic, row 1's answers row 0 better; row 2's is fine but
# row 3's is better; row 4's answer comes back truncated; row 5 (short-short) has no other candidate.
ROWS = [("solar panels roof energy", "IRRELEVANT notes on cooking pasta"),
        ("solar panel installation", "BEST guide: solar panels on a roof save energy"),
        ("bread baking flour yeast", "bread baking with flour and yeast at home"),
        ("bread oven tips", "BEST bread baking tips: flour, yeast and a hot oven"),
        ("garbled harbor boats", "harbor boats in the morning fog")]


def rows() -> list[dict]:
    out = [row(i, query=q, positive=p, negative=f"unrelated negative number {i} about volcanoes", **RETRIEVAL)
           for i, (q, p) in enumerate(ROWS)]
    return out + [row(5, task_type="short_short", task="Find a paraphrase.", query="lonely question",
                      positive="lonely answer", negative=None)]


def ids(*numbers: int) -> list[str]:
    return [f"{i:016x}" for i in numbers]


@pytest.fixture
def word_teacher(monkeypatch):
    monkeypatch.setattr("tasks.clean.teacher.load_teacher", lambda spec, threads=None: WordTeacher())
    monkeypatch.setattr("tasks.clean.teacher.check_teacher_reachable", lambda spec: None)


def test_the_llms_choice_replaces_the_positive_and_training_reads_it(word_teacher, tmp_path, capsys):
    url = f"file://{tmp_path}/store"
    write_run(url, "r1", rows())
    store = open_store(url)
    argv = ["clean", "--run-id", "r1", "--store", url, *ONLY_RELABEL]
    with FakeOpenAI(policy=lambda n, prompt: "malformed" if "garbled" in prompt else "ok") as server:
        assert main([*argv, "--llm-base-url", server.base_url, "--llm-model", server.model]) == 0
        assert len(server.requests) == 5  # the short-short row has no other candidate: not asked
        filters = load_manifest(store, "r1").filters
        relabel = filters["relabel"]
        assert relabel.action == "replace" and relabel.rows_checked == 6
        assert relabel.counts == {"relabeled": 1, "relabeled_old_positive_irrelevant": 1}
        assert relabel.details["rows_asked"] == 5 and relabel.details["unparseable"] == 1
        changes = pl.read_parquet(relabel.path)
        assert changes.select("example_id", "reason", "positive", "negatives", "old_positive").rows() == [
            (ids(0)[0], "relabeled_old_positive_irrelevant", ROWS[1][1], [ROWS[0][1]], ROWS[0][1]),
            (ids(2)[0], "relabeled", ROWS[3][1], [], ROWS[2][1])]
        records = [json.loads(line) for f in (tmp_path / "store/runs/r1/ledger/filters/relabel").glob("*.jsonl")
                   for line in f.read_text().splitlines()]
        assert sorted(r["verdict"] for r in records) == ["kept"] * 4 + ["relabel_unparseable"]
        assert "relabel: 5 row(s) asked, 1 answer(s) unparseable" in capsys.readouterr().out

        # what readers see: the generated positives, unless they ask for the relabeled ones (training does)
        plain = scan_run(store, "r1", mined_negatives=True).collect().sort("example_id")
        assert plain["positive"].to_list() == [p for _, p in ROWS] + ["lonely answer"]
        assert ROWS[0][1] not in plain["mined_negatives"][0]  # still row 0's positive here: never its negative
        # mined against the new positive: the old one scored 0 for its query, so nothing would be under 0.95 x 0
        assert plain["mined_negatives"][0].len() > 0 and ROWS[1][1] not in plain["mined_negatives"][0]
        relabeled = scan_run(store, "r1", mined_negatives=True, relabeled=True).collect().sort("example_id")
        assert relabeled["positive"].to_list()[:4] == [ROWS[1][1], ROWS[1][1], ROWS[3][1], ROWS[3][1]]
        assert relabeled["mined_negatives"][0].to_list()[0] == ROWS[0][1]  # the irrelevant old positive, first
        assert ROWS[2][1] not in relabeled["mined_negatives"][2].to_list()  # a relevant one is no negative
        pairs = {p.query.rsplit("Query: ", 1)[1]: p for p in to_pairs(read_run(f"{url}/runs/r1"), 2)}
        assert pairs[ROWS[0][0]].positive == ROWS[1][1]
        assert pairs[ROWS[0][0]].negatives == ("unrelated negative number 0 about volcanoes", ROWS[0][1])
        exported = open_run(store, "r1").rows.collect().sort("example_id")  # synthembed export: as training reads
        assert exported["positive"].to_list()[:4] == [ROWS[1][1], ROWS[1][1], ROWS[3][1], ROWS[3][1]]

        # the same command again pays nothing; --no-relabel takes the entry away
        assert main([*argv, "--llm-base-url", server.base_url, "--llm-model", server.model]) == 0
        assert len(server.requests) == 5
        again = load_manifest(store, "r1").filters["relabel"]
        assert again.counts == relabel.counts and again.details["requests_reused"] == 5
        assert again.details["requests_paid"] == 0
    assert main(["clean", "--run-id", "r1", "--store", url, "--no-relabel", "--meaning", "off", "--decontaminate",
                 "off"]) == 0
    assert "relabel" not in load_manifest(store, "r1").filters
    assert scan_run(store, "r1", relabeled=True).collect().sort("example_id")["positive"][0] == ROWS[0][1]


def test_candidates_hold_the_own_positive_never_the_own_negative(tmp_path):
    # Given a group where the row's own negative is the best match and its positive the worst
    frame = pl.DataFrame([row(0, query="alpine lakes hiking", positive="desert cactus",
                              negative="alpine lakes hiking trail", **RETRIEVAL)] +
                         [row(i, query=f"query {i}", positive=f"alpine lakes {i} hiking", negative=None, **RETRIEVAL)
                          for i in range(1, 6)])
    vectors = RunVectors(open_store(f"file://{tmp_path}"), "r1", WordTeacher())
    shown = candidate_lists(frame.select(TRIPLE_COLUMNS), vectors, candidates=3)
    assert len(shown[0]) == 3 and shown[0][-1] == "desert cactus"  # in place of the third best
    assert "alpine lakes hiking trail" not in shown[0]
    assert all(text.startswith("alpine lakes") for text in shown[0][:2])


@pytest.mark.parametrize("text", ['{"best": 0, "relevant": []}', '{"best": 2}', '{"best": "two", "relevant": [1]}',
                                  '{"best": true, "relevant": [1]}', "[2]", "not json"])
def test_an_answer_that_is_no_choice_among_the_candidates_is_unparseable(text):
    with pytest.raises(Unparseable):
        choice_parser(2)(Completion(text, "stop", 1, 1, 0.1))


@pytest.mark.parametrize("flags, message", [
    (["--relabel-candidates", "1"], "--relabel-candidates 1: Input should be greater than or equal to 2"),
    (["--relabel"], "--judge and --relabel ask the run's LLM, and run 'r1' stored none"),
])
def test_a_bad_relabel_flag_is_one_line_and_exit_2(tmp_path, flags, message, capsys):
    url = f"file://{tmp_path}/store"
    write_run(url, "r1", rows())
    assert main(["clean", "--run-id", "r1", "--store", url, *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
