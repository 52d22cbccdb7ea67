"""Start a local server as a child process, wait until it answers, stop it cleanly.

Shared by the llama.cpp, SeaweedFS and Prefect launchers. Every server binds 127.0.0.1.

>>> port = free_port()
>>> 1024 < port < 65536
True
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)


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
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

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

    def supervise(self, max_restarts: int = 3, poll_s: float = 0.5) -> "ServiceProcess":
        """Restart the server on the same command and port whenever it dies unasked (a crash, the
        OOM killer), up to ``max_restarts`` times; clients retrying their requests ride through.

        Example::

            with ServiceProcess("llama.cpp server", command, ready_url, log_path) as server:
                server.supervise()  # a kill -9 of the server is followed by a restart on its port
        """
        self._stopping.clear()
        self._watcher = threading.Thread(target=self._watch, args=(max_restarts, poll_s), daemon=True,
                                         name=f"supervise {self.name}")
        self._watcher.start()
        return self

    def _watch(self, max_restarts: int, poll_s: float) -> None:
        while not self._stopping.wait(poll_s):
            code = self.process.poll() if self.process else None
            if code is None:
                continue
            if self.restarts >= max_restarts:
                log.error("%s exited with code %s; restarted %d times already, not again", self.name, code, self.restarts)
                return
            self.restarts += 1
            log.warning("%s exited with code %s; restarting it (%d of at most %d)", self.name, code, self.restarts,
                        max_restarts)
            try:
                self.start()
            except ServiceError as exc:
                log.error("%s could not be restarted: %s", self.name, str(exc).splitlines()[0])
                return

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stopping.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join()  # a restart in progress finishes first (bounded by start_timeout_s)
            self._watcher = None
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
