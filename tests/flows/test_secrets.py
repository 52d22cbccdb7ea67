"""Secrets: from the environment or Prefect Secret blocks; used, and never written anywhere."""

from __future__ import annotations

import asyncio

import polars as pl

from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.synthembed_cli import run_cli, synthesize_argv


def test_the_api_key_leaves_no_trace_in_output_store_or_prefect(prefect_api, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, LogFilter

    key = "sk-test-" + "9f3e1c7a" * 4
    monkeypatch.setenv("SYNTHEMBED_LLM_API_KEY", key)
    with FakeOpenAI() as server:
        result = run_cli(synthesize_argv(server, f"file://{tmp_path}", "--languages", "en", "--task-types", "sts,retrieval",
                               "--examples-per-shard", "2", "--run-id", "secret"))
    assert result.returncode == 0, result.stderr
    assert server.authorizations == {f"Bearer {key}"}  # the key was really used...

    async def recorded() -> str:
        async with get_client() as client:
            [run] = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["synthesize-secret"])))
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id={"any_": [run.id]}))
            artifacts = await client.read_artifacts()
            return " ".join([run.model_dump_json(), *(log.message for log in logs),
                             *(a.model_dump_json() for a in artifacts)])

    api_text = asyncio.run(recorded())
    assert "synth-sts-en" in api_text or "sts/en" in api_text  # we did read the run's records
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    # Parquet is compressed: compare decoded cells, not bytes.
    stored = [pl.read_parquet(p).write_csv() if p.suffix == ".parquet" else p.read_text(errors="replace") for p in files]
    assert any(p.name == "manifest.json" for p in files) and any(p.suffix == ".parquet" for p in files)
    for haystack in (result.stdout, result.stderr, api_text, *stored):  # ...and appears nowhere else
        assert key not in haystack


def test_keys_can_come_from_prefect_secret_blocks(prefect_api, s3, tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    Secret(value="sk-from-block-123456").save("llm-key", overwrite=True)
    Secret(value={"access_key_id": s3.access_key, "secret_access_key": s3.secret_key}).save("s3-creds", overwrite=True)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SYNTHEMBED_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNTHEMBED_LLM_API_KEY_BLOCK", "llm-key")
    monkeypatch.setenv("SYNTHEMBED_S3_CREDENTIALS_BLOCK", "s3-creds")
    monkeypatch.setenv("SYNTHEMBED_S3_ENDPOINT_URL", s3.endpoint_url)
    with FakeOpenAI() as server:
        result = run_cli(synthesize_argv(server, "s3://synthembed-blocks/x", "--languages", "en", "--task-types", "sts",
                               "--examples-per-shard", "2", "--run-id", "blocks"))
    assert result.returncode == 0, result.stderr
    assert server.authorizations == {"Bearer sk-from-block-123456"}
    assert scan_run(open_store("s3://synthembed-blocks/x"), "blocks").collect().height == 2
    assert "sk-from-block" not in result.stdout + result.stderr


def test_a_missing_secret_block_is_one_clear_error(prefect_api, tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHEMBED_LLM_API_KEY_BLOCK", "no-such-block")
    with FakeOpenAI() as server:
        result = run_cli(synthesize_argv(server, f"file://{tmp_path}", "--languages", "en", "--task-types", "sts"))
    assert result.returncode == 2 and "cannot read Prefect Secret block 'no-such-block'" in result.stderr
    assert server.requests == []
