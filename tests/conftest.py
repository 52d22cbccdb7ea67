"""Shared fixtures: real local services on 127.0.0.1, started once per test session.

* ``prefect_api``: a real ``prefect server`` (SQLite in a temp PREFECT_HOME) — flow runs and
  task runs are recorded there, never in Prefect's lossy in-process ephemeral server.
* ``s3``: SeaweedFS with credentials (a real S3 API).
* ``llama``: the embedded llama.cpp server with Qwen2.5-Coder-0.5B (slow tests only).
* ``offline``: the hub offline and every socket connect refused while a module runs (tests.support.offline).
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

import pytest

# The ``offline`` fixture (hub offline, sockets refused for a module), for every test module. A light
# import: nothing here may import Prefect before pytest_configure has pointed it at this session's server.
from tests.support.offline import offline  # noqa: F401

# Prefect reads its settings when first imported, and collection imports flow modules
# (doctests): point it at this session's server before anything else.
_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="synthembed-prefect-"))


def _configure_prefect_env() -> int:
    from infra.services.process import free_port

    port = free_port()
    os.environ.update(
        PREFECT_HOME=str(_PREFECT_HOME),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_LOGGING_TO_API_BATCH_INTERVAL="0.3",
        DO_NOT_TRACK="1",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",  # local Ray on 127.0.0.1 (see tasks.train.launch)
        AWS_EC2_METADATA_DISABLED="true",
        HF_HUB_OFFLINE="1",  # nothing here may reach the hub; standard MTEB tasks must say so
        TRANSFORMERS_OFFLINE="1",
        SYNTHEMBED_TEST_PREFECT_PORT=str(port),
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "OPENAI_API_KEY", "SYNTHEMBED_LLM_API_KEY"):
        os.environ.pop(name, None)  # tests set what they need; nothing leaks in from the shell
    return port


def pytest_addoption(parser):
    parser.addoption("--run-soak", action="store_true", help="run soak/fault runs (make soak)")


def pytest_configure(config):
    _configure_prefect_env()


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-soak"):
        return
    skip = pytest.mark.skip(reason="soak test: run with `make soak`")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect server for the whole session; yields its API URL."""
    from infra.services.process import ServiceProcess

    port = int(os.environ["SYNTHEMBED_TEST_PREFECT_PORT"])
    command = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with ServiceProcess("prefect server", command, f"http://127.0.0.1:{port}/api/health",
                        _PREFECT_HOME / "server.log", start_timeout_s=120):
        yield os.environ["PREFECT_API_URL"]


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """SeaweedFS on loopback with random credentials; yields infra.services.seaweedfs.LocalS3."""
    from infra.services.seaweedfs import local_s3

    with local_s3(tmp_path_factory.mktemp("seaweedfs"), access_key=f"test{secrets.token_hex(4)}",
                  secret_key=secrets.token_hex(16)) as server:
        yield server


@pytest.fixture
def s3_env(s3, monkeypatch):
    """The S3 credentials and endpoint in the environment for one test."""
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    return s3


@pytest.fixture(scope="session")
def llama():
    """The embedded llama.cpp server (Qwen2.5-Coder-0.5B) for end-to-end tests."""
    from infra.services.llama import local_llm

    with local_llm() as server:
        yield server


@pytest.fixture(scope="session")
def real_run(tmp_path_factory, prefect_api):
    """A real synthesis run by the embedded LLM (Qwen2.5-Coder-0.5B via llama.cpp): 2 languages ×
    6 task types × 2 examples. Made once per session; the e2e and training tests share it.
    Yields (store_url, run_id, completed_process)."""
    import subprocess

    from tests.support.synthembed_cli import E2E_LENGTHS

    store_url = f"file://{tmp_path_factory.mktemp('real-run')}"
    command = [str(Path(sys.executable).parent / "synthembed"), "synthesize", "--languages", "en,es",
               "--task-types", "all", "--examples-per-shard", "2", "--store", store_url, "--run-id", "e2e",
               *E2E_LENGTHS]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode in (0, 1, 3), result.stderr[-3000:]  # 3: complete, some shards below the minimum yield
    return store_url, "e2e", result
