"""Start a local server as a child process, wait until it answers, stop it cleanly.

Shared by the llama.cpp, SeaweedFS and Prefect launchers. Every server binds 127.0.0.1.

>>> port = free_port()
>>> 1024 < port < 65536
True
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class ServiceError(RuntimeError):
    """A local service failed to start; the message includes the tail of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers with any HTTP status below 500 (the server is up)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


class ServiceProcess:
    """A server process with a readiness URL. Use as a context manager or call start/stop.

    Args:
        name: for messages.
        command: argv of the server.
        ready_url: polled until it answers.
        log_path: stdout and stderr go here (kept for post-mortems).
        env: extra environment variables.
        start_timeout_s: how long to wait for readiness.
    """

    def __init__(self, name: str, command: list[str], ready_url: str, log_path: Path,
                 env: dict[str, str] | None = None, start_timeout_s: float = 120.0):
        self.name, self.command, self.ready_url = name, command, ready_url
        self.log_path, self.env, self.start_timeout_s = Path(log_path), env or {}, start_timeout_s
        self.process: subprocess.Popen | None = None

    def start(self) -> "ServiceProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # A new session so that stop() can signal the server and anything it spawned.
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env={**os.environ, **self.env}, start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}")
            if http_ok(self.ready_url):
                return self
            time.sleep(0.3)
        self.stop()
        raise ServiceError(f"{self.name} did not answer at {self.ready_url} within {self.start_timeout_s:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "ServiceProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
