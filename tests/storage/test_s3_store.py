"""The s3:// path against a real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import secrets

import pytest

from tasks.runs.manifest import Manifest, load_manifest, save_manifest
from tasks.runs.parts import scan_run, write_part
from tasks.storage.store import StoreError, check_store, open_store
from tests.support.runs import complete_part, row, shard


def _bucket() -> str:
    return f"synthembed-{secrets.token_hex(4)}"


def test_check_store_creates_the_bucket_and_proves_it_writable(s3_env):
    store = open_store(f"s3://{_bucket()}/team/data")
    check_store(store)
    assert store.fs.exists(store.root.split("/")[0])
    assert not store.fs.exists(store.path(".synthembed-write-check"))  # the probe cleans up


def test_shards_and_manifest_round_trip_through_s3(s3_env):
    store = open_store(f"s3://{_bucket()}/runs-root")
    check_store(store)
    path = write_part(store, "r1", "sts", "en", 0, [row(0), row(1)])
    assert path.startswith(store.root) and path.endswith("task_type=sts/language=en/part-00000.parquet")
    manifest = Manifest(run_id="r1", shards={"sts/en": shard("sts", "en", [complete_part(0, path, 2)])})
    save_manifest(store, manifest)
    assert load_manifest(store, "r1").shards["sts/en"].rows == 2
    frame = scan_run(store, "r1").collect()  # polars reads s3 itself, with the same settings
    assert frame.height == 2 and frame["query"].to_list() == ["q0", "q1"]


def test_wrong_credentials_are_one_clear_error(s3_env, monkeypatch):
    bucket = _bucket()
    check_store(open_store(f"s3://{bucket}/x"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(StoreError, match=f"cannot write to s3://{bucket}/x"):
        check_store(open_store(f"s3://{bucket}/x"))


def test_missing_credentials_are_reported_before_any_request(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(StoreError, match="needs credentials: set AWS_ACCESS_KEY_ID"):
        open_store("s3://bucket/prefix")


def test_unreachable_endpoint_is_one_clear_error(s3_env, monkeypatch):
    from infra.services.process import free_port

    monkeypatch.setenv("SYNTHEMBED_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="cannot write to s3://"):
        check_store(open_store(f"s3://{_bucket()}/x"))
