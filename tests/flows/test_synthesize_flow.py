"""The synthesis flow under a real Prefect server, against a scripted OpenAI-compatible server.

Faults (429 with Retry-After, 500, stalls past the timeout, malformed JSON) must never put an
invalid row in storage; failed shards are listed with a retry command, and the retry
completes exactly them.
"""

from __future__ import annotations

import asyncio

import pytest

from flows.cli import main
from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.synthembed_cli import assert_rows_are_valid, run_cli, synthesize_argv


class Flaky:
    """Spanish prompts fail for good; the other example prompts see one of each transient fault and bad answer.

    Brainstorm prompts are always answered well: they name no language, so which shard's brainstorm a
    fault would hit depended on arrival order, and a bad brainstorm answer is replayed from the ledger
    by the retry (same seeds, never paid twice), which then could not complete that shard.
    """

    faults = {0: "429", 2: "stall", 4: "malformed", 6: "wrong_keys", 8: "500"}

    def __init__(self):
        self.others = 0

    def __call__(self, n: int, prompt: str) -> str:
        if "Spanish" in prompt:
            return "500"
        if '{"tasks": [' in prompt:  # a brainstorm prompt (templates' _BRAINSTORM_TAIL)
            return "ok"
        self.others += 1
        return self.faults.get(self.others - 1, "ok")


def test_faults_are_counted_failed_shards_listed_and_the_retry_completes_them(prefect_api, tmp_path):
    store_url = f"file://{tmp_path}/store"
    extra = ["--languages", "en,es", "--task-types", "retrieval,sts", "--examples-per-shard", "3",
             "--run-id", "faulty", "--shard-retries", "0"]
    with FakeOpenAI(policy=Flaky(), retry_after_s=0.2, stall_s=1.5) as server:
        first = run_cli(synthesize_argv(server, store_url, *extra))
    assert first.returncode == 1, first.stderr
    assert {kind for _, kind in server.requests} == {"ok", "429", "500", "stall", "malformed", "wrong_keys"}
    err = first.stderr
    assert "2 shard(s) not complete" in err and "retrieval/es" in err and "sts/es" in err
    retry_line = err.strip().splitlines()[-1].strip()
    assert retry_line == f"synthembed retry --run-id faulty --store {store_url}"

    store = open_store(store_url)
    manifest = load_manifest(store, "faulty")
    statuses = {k: e.status for k, e in manifest.shards.items()}
    assert statuses == {"retrieval/en": ShardStatus.COMPLETE, "sts/en": ShardStatus.COMPLETE,
                        "retrieval/es": ShardStatus.FAILED, "sts/es": ShardStatus.FAILED}
    assert "HTTP 500 after 3 attempts" in manifest.shards["sts/es"].error
    rejects = {k: v for e in manifest.shards.values() for k, v in e.rejects.items()}
    assert rejects.get("invalid_json", 0) + rejects.get("brainstorm_invalid_json", 0) >= 1
    assert rejects.get("missing_key", 0) + rejects.get("brainstorm_not_object", 0) >= 1
    assert sum(e.usage.get("retries", 0) for e in manifest.shards.values()) >= 3  # 429, stall, 500 retried
    frame = scan_run(store, "faulty", filtered=False).collect()
    assert set(frame["language"]) == {"en"} and frame.height == manifest.total_rows() > 0
    assert_rows_are_valid(frame)
    status = run_cli(["status", "--run-id", "faulty", "--store", store_url])
    assert status.returncode == 0 and "sts/es" in status.stdout and "failed" in status.stdout
    assert "valid_json" in status.stdout  # the per-task-type yield table
    complete_before = {k: e.model_dump() for k, e in manifest.shards.items() if e.status is ShardStatus.COMPLETE}
    assert set(complete_before) == {"retrieval/en", "sts/en"}  # so "untouched" below compares something

    nothing = run_cli(["retry", "--run-id", "faulty", "--store", store_url, "--languages", "en"])
    assert nothing.returncode == 0 and "nothing to retry" in nothing.stdout

    # The server recovers (at a new address); the printed retry command redoes only the failed shards.
    with FakeOpenAI() as healed:
        retry = run_cli([*retry_line.split()[1:], "--llm-base-url", healed.base_url, "--llm-model", healed.model])
    assert retry.returncode == 0, retry.stderr
    assert "retrying 2 shard(s) of faulty: retrieval/es, sts/es" in retry.stderr
    # 3 + 3 examples, all for the Spanish shards; retrieval/es's brainstorm (its prompt names no language)
    # was answered in the first run, and the retry takes it from the ledger instead of paying again
    assert len(healed.requests) == 6 and all("Spanish" in body["messages"][-1]["content"] for body in healed.bodies)
    after = load_manifest(store, "faulty")
    assert {k: e.status for k, e in after.shards.items()} == dict.fromkeys(statuses, ShardStatus.COMPLETE)
    assert {k: after.shards[k].model_dump() for k in complete_before} == complete_before  # untouched
    assert after.shards["sts/es"].attempts == 2
    frame = scan_run(store, "faulty", filtered=False).collect()
    assert frame.height == after.total_rows() and frame["example_id"].n_unique() == frame.height
    assert len(list((tmp_path / "store/runs/faulty/data").rglob("*.parquet"))) == 4
    assert_rows_are_valid(frame)


def test_flow_and_one_task_run_per_language_are_recorded_in_prefect(prefect_api, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with FakeOpenAI() as server:
        assert main(synthesize_argv(server, f"file://{tmp_path}", "--languages", "en,de", "--task-types", "sts,short_short",
                         "--examples-per-shard", "2", "--run-id", "recorded")) == 0

    async def runs():
        async with get_client() as client:
            flows = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["synthesize-recorded"])))
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flows[0].id]}))
            artifacts = await client.read_artifacts()
            return flows, tasks, artifacts

    flows, tasks, artifacts = asyncio.run(runs())
    assert [f.state.type.value for f in flows] == ["COMPLETED"]
    language_runs = sorted(t.name for t in tasks if t.name.startswith("synth-"))
    assert language_runs == ["synth-de", "synth-en"]
    assert all(t.state.type.value == "COMPLETED" for t in tasks)
    table = [a for a in artifacts if a.key == "synthesis-shards" and a.flow_run_id == flows[0].id]
    assert table and "sts/de" in str(table[0].data)


def test_synthesis_into_s3(prefect_api, s3_env, tmp_path):
    with FakeOpenAI() as server:
        assert main(synthesize_argv(server, "s3://synthembed-flow/team", "--languages", "fr", "--task-types", "bitext,classification",
                         "--examples-per-shard", "2", "--run-id", "s3run")) == 0
    store = open_store("s3://synthembed-flow/team")
    frame = scan_run(store, "s3run", filtered=False).collect()
    assert frame.height == 4 and set(frame["task_type"]) == {"bitext", "classification"}
    assert store.fs.exists("synthembed-flow/team/runs/s3run/data/task_type=bitext/language=fr/part-00000.parquet")


@pytest.mark.parametrize("args, message", [
    (["--languages", "en,klingon"], "unknown language code(s): klingon"),
    (["--task-types", "reranking"], "unknown task type(s): reranking"),
    (["--examples-per-shard", "0"], "--examples-per-shard 0: Input should be greater than or equal to 1"),
])
def test_bad_input_is_one_clear_error_before_any_llm_call(args, message, tmp_path, capsys):
    with FakeOpenAI() as server:
        assert main(synthesize_argv(server, f"file://{tmp_path}", *args)) == 2
    assert message in capsys.readouterr().err
    assert server.requests == []
    assert not (tmp_path / "runs").exists()


def test_unreachable_llm_server_is_reported_before_any_data_is_planned(tmp_path, capsys):
    from infra.services.process import free_port

    argv = ["synthesize", "--store", f"file://{tmp_path}", "--llm-base-url", f"http://127.0.0.1:{free_port()}/v1",
            "--llm-model", "m", "--languages", "en"]
    assert main(argv) == 2
    assert "cannot reach the LLM server" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_missing_s3_credentials_are_reported_before_any_llm_call(tmp_path, capsys, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAI() as server:
        assert main(synthesize_argv(server, "s3://bucket/x", "--languages", "en")) == 2
    assert "needs credentials" in capsys.readouterr().err
    assert server.requests == []
