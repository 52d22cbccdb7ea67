"""Object storage behind one URL: ``file://`` (default ``./data``) or ``s3://`` through s3fs.

S3 settings come from the environment, never from parameters, so they cannot leak into
flow-run records, manifests or logs:

* ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or ``AWS_PROFILE``): credentials,
* ``SYNTHEMBED_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL``: a non-AWS server (SeaweedFS, MinIO),
* ``AWS_REGION``: optional.

>>> store = open_store("file:///tmp/synthembed-doctest")
>>> store.url("runs", "r1", "manifest.json")
'file:///tmp/synthembed-doctest/runs/r1/manifest.json'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from tasks.common.secrets import S3_BLOCK_ENV, s3_credentials

AWS_ENDPOINT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
WRITE_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store cannot be used: bad URL, missing or rejected credentials, unreachable server."""


@dataclass
class Store:
    """A filesystem and the root path inside it; all paths are ``/``-joined below the root."""

    fs: fsspec.AbstractFileSystem
    root: str
    protocol: str

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def url(self, *parts: str) -> str:
        return f"{self.protocol}://{self.path(*parts)}"

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write atomically: readers see the old object or the new one, never a partial one.

        Local files: write a temporary file beside the target, then rename over it.
        S3: a single PUT (or a multipart upload) only becomes visible once complete.
        """
        if isinstance(self.fs, LocalFileSystem):
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
                try:
                    tmp.write(data)
                    tmp.flush()
                    os.fsync(tmp.fileno())
                except BaseException:  # disk full, I/O error: leave no partial temporary file behind
                    os.unlink(tmp.name)
                    raise
            os.replace(tmp.name, target)
        else:
            self._retrying(self.fs.pipe_file, path, data)

    def _retrying(self, call, *args, **kwargs):
        """An object-store call retried through a server restart or a network blip (~30 s in all).

        A PUT is atomic (the object appears whole or not at all), so repeating one is safe.
        """
        for delay in (*WRITE_RETRY_DELAYS_S, None):
            try:
                return call(*args, **kwargs)
            except (FileNotFoundError, PermissionError, FileExistsError):
                raise  # answers, not outages
            except Exception as exc:  # botocore/aiohttp raise many types for "could not reach it"
                if delay is None:
                    raise
                log.warning("store write to %s failed (%s); retrying in %.1fs", self.protocol, type(exc).__name__, delay)
                time.sleep(delay)

    def read_json(self, path: str) -> dict | None:
        """The JSON object at ``path``, or None when there is none."""
        try:
            with self.fs.open(path, "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def write_json(self, path: str, data: dict) -> None:
        self.write_bytes(path, json.dumps(data, indent=2, ensure_ascii=False).encode())

    def remove_unlisted(self, pattern: str, keep: set[str]) -> list[str]:
        """Delete the files matching the glob ``pattern`` that are not in ``keep``; return their paths."""
        try:
            found = self.fs.glob(pattern)
        except FileNotFoundError:
            return []
        stale = [path for path in found if path not in keep]
        for path in stale:
            self.fs.rm_file(path)
        return stale

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)


def _s3_filesystem() -> fsspec.AbstractFileSystem:
    # botocore would otherwise probe the EC2 metadata address for credentials: nothing may
    # leave loopback here, and a missing key should be a clear error, not a 1 s timeout.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    credentials = s3_credentials() or {}
    in_env = os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (credentials or in_env or os.environ.get("AWS_PROFILE")):
        raise StoreError(
            "s3:// store needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            f"(or AWS_PROFILE, or {S3_BLOCK_ENV} naming a Prefect Secret block), and "
            "SYNTHEMBED_S3_ENDPOINT_URL for a non-AWS server"
        )
    from tasks.common.settings import Settings

    endpoint = Settings().s3_endpoint_url or next((os.environ[n] for n in AWS_ENDPOINT_ENV if os.environ.get(n)), None)
    client_kwargs = {"endpoint_url": endpoint} if endpoint else {}
    if os.environ.get("AWS_REGION"):
        client_kwargs["region_name"] = os.environ["AWS_REGION"]
    # skip_instance_cache: credentials may change between calls (tests, rotated keys).
    # Bounded waits: a server that went away must surface as an error our retries handle, not a hang.
    config = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 3, "mode": "standard"}}
    return fsspec.filesystem("s3", client_kwargs=client_kwargs, config_kwargs=config, skip_instance_cache=True,
                             **credentials)


def absolute_url(url: str) -> str:
    """Local URLs made absolute (processes elsewhere, e.g. Ray workers, have another cwd).

    >>> absolute_url("s3://bucket/x")
    's3://bucket/x'
    >>> absolute_url("file:///data/x")
    'file:///data/x'
    >>> absolute_url("")  # unset stays unset (a pipeline fills it in)
    ''
    """
    if not url:
        return url
    if "://" in url and not url.startswith("file://"):
        return url
    return f"file://{Path(url.removeprefix('file://') or '.').expanduser().resolve()}"


def check_store_url(url: str) -> str:
    """The URL if it is one we can store to, else StoreError (before anything is started).

    >>> check_store_url("ftp://host/x")
    Traceback (most recent call last):
    ...
    tasks.storage.store.StoreError: store URL 'ftp://host/x': unsupported scheme 'ftp' (use file://PATH or s3://BUCKET/PREFIX)
    """
    if "://" not in url or url.startswith("file://"):
        return url
    protocol, _, rest = url.partition("://")
    if protocol not in ("s3", "s3a"):
        raise StoreError(f"store URL {url!r}: unsupported scheme {protocol!r} (use file://PATH or s3://BUCKET/PREFIX)")
    if not rest.strip("/"):
        raise StoreError(f"store URL {url!r} names no bucket")
    return url


def open_store(url: str) -> Store:
    """Open ``file://PATH``, a plain path, or ``s3://BUCKET/PREFIX``; nothing else."""
    if "://" not in url or url.startswith("file://"):
        root = url.removeprefix("file://") or "."
        return Store(LocalFileSystem(), str(Path(root).expanduser().resolve()), "file")
    protocol, _, rest = check_store_url(url).partition("://")
    return Store(_s3_filesystem(), rest.rstrip("/"), "s3")


def check_store(store: Store) -> None:
    """Prove the store is writable (creating the S3 bucket if needed) before any LLM spend.

    Raises StoreError with the server's reason (wrong credentials, unreachable endpoint...).
    """
    probe = store.path(".synthembed-write-check")
    try:
        if store.protocol == "s3":
            bucket = store.root.split("/", 1)[0]
            if not store.fs.exists(bucket):
                store.fs.mkdir(bucket)
        store.write_bytes(probe, b"ok")
        store.fs.rm_file(probe)
    except StoreError:
        raise
    except Exception as exc:  # botocore/aiohttp raise many types; all mean "unusable store"
        detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise StoreError(f"cannot write to {store.url()}: {detail}") from None


def local_copy(url: str, cache_dir: Path) -> Path:
    """A local folder with the files at ``url``: itself for file://, else a cached copy."""
    store = open_store(url)
    if store.protocol == "file":
        return Path(store.root)
    target = cache_dir / "eval-models" / hashlib.sha256(url.encode()).hexdigest()[:16]
    # Fetched fresh each time: the same URL may hold a retrained model.
    store.fs.get(store.root.rstrip("/") + "/", str(target) + "/", recursive=True)
    return target
