"""The LLM judge against the fake OpenAI server: every rating goes through the run's ledger and budget,
a rerun pays nothing, low scores and unparseable ratings are reasons, and its agreement with the teacher
is counted. ``synthembed clean`` runs it, as a user would."""

from __future__ import annotations

import json

import polars as pl
import pytest

from flows.cli import main
from tasks.clean.judge import Unparseable, parse_judgement
from tasks.llm.client import LLMSettings
from tasks.llm.requests import Completion
from tasks.runs.manifest import load_manifest, save_manifest
from tasks.runs.parts import scan_run
from tasks.runs.verdicts import marked_rows
from tasks.storage.store import open_store
from tasks.synth.config import SynthesisConfig
from tests.clean.teachers import WordTeacher
from tests.support.fake_openai import FakeOpenAI
from tests.support.runs import row, write_run

# Only the judge: the teacher's filters and decontamination have their own tests, and cost minutes here.
JUDGE_ONLY = ["--judge", "--meaning", "off", "--mine-negatives", "0", "--decontaminate", "off", "--no-near-dedup"]
LOW, GARBLED = "a lighthouse keeper's diary", "a garbled recipe"  # texts the server's policy answers badly


def policy(n: int, prompt: str) -> str:
    """The planted rows: one the judge scores 1, one whose rating comes back truncated."""
    return "low_score" if LOW in prompt else "malformed" if GARBLED in prompt else "ok"


def rows(n: int = 6) -> list[dict]:
    """``n`` distinct retrieval rows; row 1 and row 2 carry the planted texts."""
    out = [row(i, task_type="retrieval", task="Given a question, find a passage that answers it.",
               query=f"question {i} about rivers", positive=f"passage {i}: rivers carry water to the sea",
               negative=f"passage {i}: mountains are tall") for i in range(n)]
    out[1]["positive"], out[2]["positive"] = LOW, GARBLED
    return out


def ledger(tmp_path) -> list[dict]:
    """Every record of the judge's ledger."""
    files = sorted((tmp_path / "store/runs/r1/ledger/filters/judge").glob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def clean(store_url: str, server: FakeOpenAI, *extra: str) -> int:
    return main(["clean", "--run-id", "r1", "--store", store_url, "--llm-base-url", server.base_url,
                 "--llm-model", server.model, *JUDGE_ONLY, *extra])


@pytest.fixture
def store_url(tmp_path):
    url = f"file://{tmp_path}/store"
    write_run(url, "r1", rows())
    return url


def test_each_row_is_rated_through_the_ledger_and_a_rerun_pays_nothing(store_url, tmp_path, capsys):
    store = open_store(store_url)
    with FakeOpenAI(policy=policy) as server:
        assert clean(store_url, server) == 0
        # one rating per row, each recorded in the run's ledger with what was made of it
        assert len(server.requests) == 6
        records = ledger(tmp_path)
        assert len(records) == 6 and len({r["key"] for r in records}) == 6
        assert sorted(r["verdict"] for r in records) == ["judge_unparseable"] + ["kept"] * 5
        assert all(r["model"] == server.model and r["label"].startswith("judge retrieval/en") for r in records)
        assert all(body["temperature"] == 0.0 and body["response_format"] == {"type": "json_object"}
                   for body in server.bodies)
        judge = load_manifest(store, "r1").filters["judge"]
        assert judge.action == "drop" and judge.rows_checked == 6
        assert judge.counts == {"judge_low_score": 1, "judge_unparseable": 1}
        assert judge.details["scores"] == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 4}
        assert judge.details["requests_paid"] == 6 and judge.details["requests_reused"] == 0
        assert judge.details["usage"]["calls"] == 6 and judge.details["agreement"] is None  # no teacher ran
        verdicts = pl.read_parquet(judge.path)
        assert verdicts.rows() == [(f"{1:016x}", "judge_low_score", 1, "Unrelated."),
                                   (f"{2:016x}", "judge_unparseable", None, verdicts["why"][1])]
        assert verdicts["why"][1].startswith("'{\"user_query\"")  # the start of what came back
        kept = scan_run(store, "r1").collect()["example_id"].to_list()
        assert sorted(kept) == [f"{i:016x}" for i in (0, 3, 4, 5)]
        assert "6 answer(s) paid now, 0 reused" in capsys.readouterr().out

        # the same command again: every answer comes from the ledger, nothing reaches the server
        assert clean(store_url, server) == 0
        assert len(server.requests) == 6
        again = load_manifest(store, "r1").filters["judge"]
        assert again.counts == judge.counts and again.path != judge.path
        assert again.details["requests_paid"] == 0 and again.details["requests_reused"] == 6
        assert len(ledger(tmp_path)) == 6  # compacted, nothing added
        assert "0 answer(s) paid now, 6 reused" in capsys.readouterr().out


def test_a_higher_threshold_rejects_more_and_asks_nothing_again(store_url, tmp_path):
    store = open_store(store_url)
    with FakeOpenAI(policy=lambda n, prompt: "low_score" if LOW in prompt else "ok") as server:
        assert clean(store_url, server, "--judge", "mark") == 0
        assert load_manifest(store, "r1").filters["judge"].counts == {"judge_low_score": 1}
        assert scan_run(store, "r1").collect().height == 6  # marked, not dropped
        marked = marked_rows(store, load_manifest(store, "r1")).collect()
        assert marked.rows() == [(f"{1:016x}", "judge_low_score (score=1, why=Unrelated.)")]
        # a threshold above every score: the same answers, all rows now under it; no new request
        assert clean(store_url, server, "--judge-threshold", "5.5") == 2  # out of 1..5: refused
        assert clean(store_url, server, "--judge-threshold", "5") == 0
        assert len(server.requests) == 6
        assert load_manifest(store, "r1").filters["judge"].counts == {"judge_low_score": 1}
        assert clean(store_url, server, "--judge-threshold", "1") == 0
        assert load_manifest(store, "r1").filters["judge"].counts == {}


def test_the_budget_holds_and_a_rerun_with_room_asks_only_the_rest(tmp_path, capsys):
    url = f"file://{tmp_path}/store"
    write_run(url, "r1", rows(12))
    store = open_store(url)
    with FakeOpenAI() as server:
        assert clean(url, server, "--budget-tokens", "1500") == 1  # saved, but rows went unasked
        judge = load_manifest(store, "r1").filters["judge"]
        asked, spent = len(server.requests), judge.details["usage"]
        assert 0 < asked < 12 and judge.details["not_asked"] == 12 - asked
        assert "token budget" in judge.details["stopped"]
        assert spent["calls"] == asked and spent["prompt_tokens"] + spent["completion_tokens"] <= 1500
        assert len(ledger(tmp_path)) == asked
        assert scan_run(store, "r1").collect().height == 12  # an unasked row is not dropped
        err = capsys.readouterr()
        assert "row(s) not asked (token budget" in err.out and "ask only the rest" in err.err

        # with room: only the rows not asked yet are sent
        assert clean(url, server) == 0
        assert len(server.requests) == 12
        judge = load_manifest(store, "r1").filters["judge"]
        assert judge.details["requests_paid"] == 12 - asked and judge.details["requests_reused"] == asked
        assert judge.details["not_asked"] == 0 and judge.details["usage"]["calls"] == 12


def test_the_budget_is_the_runs_own_generation_spend_included(tmp_path):
    # Given a run whose generation already spent 900 of its 1,000 tokens
    url = f"file://{tmp_path}/store"
    manifest = write_run(url, "r1", rows(3))
    entry = manifest.shards["retrieval/en"]
    part = entry.parts[0].model_copy(update={"usage": {"calls": 3, "prompt_tokens": 600, "completion_tokens": 300}})
    manifest.shards["retrieval/en"] = entry.with_part(part)
    save_manifest(open_store(url), manifest)
    with FakeOpenAI() as server:
        # When the judge runs under that budget, then no rating fits: nothing is sent
        assert clean(url, server, "--budget-tokens", "1000") == 1
        assert len(server.requests) == 0
        assert load_manifest(open_store(url), "r1").filters["judge"].details["not_asked"] == 3


def test_the_runs_own_llm_through_the_batch_api(tmp_path):
    # Given a run made in batch mode: its stored configuration names the endpoint, no flag does
    url = f"file://{tmp_path}/store"
    with FakeOpenAI(policy=policy, batch_delay_s=0.1) as server:
        llm = LLMSettings(base_url=server.base_url, model=server.model, mode="batch", batch_poll_s=0.05,
                          batch_collect_s=0.05)
        config = SynthesisConfig(store=url, run_id="r1", llm=llm).model_dump(mode="json")
        write_run(url, "r1", rows(), config=config)
        argv = ["clean", "--run-id", "r1", "--store", url, *JUDGE_ONLY]
        assert main(argv) == 0
        assert len(server.batch_requests) == 6 and len(server.requests) == 0  # one batch, no online request
        judge = load_manifest(open_store(url), "r1").filters["judge"]
        assert judge.counts == {"judge_low_score": 1, "judge_unparseable": 1}
        assert main(argv) == 0
        assert len(server.batch_requests) == 6 and len(server.batches) == 1  # the rerun submits nothing


def test_the_judge_agreement_with_the_teachers_meaning_verdicts_is_counted_and_printed(tmp_path, monkeypatch, capsys):
    # Given STS rows the bag-of-words teacher judges by word overlap: rows 1 and 2 have S3 closer to S1 than S2
    monkeypatch.setattr("tasks.clean.teacher.load_teacher", lambda spec, threads=None: WordTeacher())
    monkeypatch.setattr("tasks.clean.teacher.check_teacher_reachable", lambda spec: None)
    sts = [("fresh apple orchard harvest", "fresh apple orchard harvest season", "distant winter mountains"),
           ("quiet harbor fishing boats", "a lighthouse keeper's diary", "quiet harbor fishing boats rocking"),
           ("ancient stone castle walls", "modern glass office towers", "ancient stone castle walls crumbling"),
           ("bright summer garden flowers", "a lighthouse keeper's diary about summer garden flowers", "cold rain"),
           ("yellow school buses parked", "yellow school buses parked outside", "purple ocean waves")]
    url = f"file://{tmp_path}/store"
    write_run(url, "r1", [row(i, task="Retrieve semantically similar text.", query=q, positive=p, negative=n)
                          for i, (q, p, n) in enumerate(sts)])
    with FakeOpenAI(policy=lambda n, prompt: "low_score" if LOW in prompt else "ok") as server:
        assert main(["clean", "--run-id", "r1", "--store", url, "--llm-base-url", server.base_url, "--llm-model",
                     server.model, "--judge", "--mine-negatives", "0", "--decontaminate", "off",
                     "--no-near-dedup"]) == 0
        assert len(server.requests) == 5  # the teacher's rejects are judged too: that is what is compared
    filters = load_manifest(open_store(url), "r1").filters
    assert filters["meaning"].counts == {"inconsistent_sts_order": 2}  # rows 1 and 2
    assert filters["judge"].counts == {"judge_low_score": 2}  # rows 1 and 3
    assert filters["judge"].details["agreement"] == {"rows": 5, "share": 0.6, "both_keep": 2, "both_reject": 1,
                                                     "only_judge_rejects": 1, "only_teacher_rejects": 1}
    assert sorted(scan_run(open_store(url), "r1").collect()["example_id"]) == [f"{0:016x}", f"{4:016x}"]
    assert ("judge: agrees with the teacher on 60% of 5 rows (both keep 2, both reject 1, only the judge rejects 1, "
            "only the teacher rejects 1)") in capsys.readouterr().out


@pytest.mark.parametrize("text, score", [
    ('{"score": 4, "reason": "Good."}', 4), ('```json\n{"score": "2"}\n```', 2), ('{"score": 5.0, "reason": 3}', 5)])
def test_a_rating_parses_from_what_models_write(text, score):
    assert parse_judgement(Completion(text, "stop", 1, 1, 0.1)).score == score


@pytest.mark.parametrize("text", ["", "null", "[4]", '{"score": "high"}', '{"score": 0}', '{"score": 6}',
                                  '{"score": true}', '{"score": 3.5}', '{"reason": "no score"}', '{"score": 4'])
def test_an_answer_without_a_score_from_1_to_5_is_unparseable(text):
    with pytest.raises(Unparseable) as raised:
        parse_judgement(Completion(text, "stop", 1, 1, 0.1))
    assert raised.value.verdict == "judge_unparseable"


def test_synthesis_judges_its_rows_with_its_generator_and_clean_reuses_every_answer(prefect_api, tmp_path):
    from tests.support.synthembed_cli import synthesize_argv

    url, judged = f"file://{tmp_path}/store", []

    def first_rating_low(n: int, prompt: str) -> str:
        if '"score"' not in prompt:
            return "ok"
        judged.append(n)
        return "low_score" if len(judged) == 1 else "ok"

    with FakeOpenAI(policy=first_rating_low) as server:
        argv = synthesize_argv(server, url, "--task-types", "sts", "--examples-per-shard", "3", "--run-id", "j1",
                               "--decontaminate", "off", "--judge")
        assert main(argv) == 0
        manifest = load_manifest(open_store(url), "j1")
        assert manifest.config["clean"]["judge"] == "drop" and len(judged) == 3
        assert manifest.filters["judge"].counts == {"judge_low_score": 1}
        assert scan_run(open_store(url), "j1").collect().height == 2
        sent = len(server.requests)
        # the stored settings and endpoint: the judge runs again, from the ledger
        assert main(["clean", "--run-id", "j1", "--store", url]) == 0
        assert len(server.requests) == sent
        assert load_manifest(open_store(url), "j1").filters["judge"].details["requests_reused"] == 3
