"""A supervised local service comes back on its own address after a kill -9, a bounded number of times,
and a stop is never mistaken for a crash."""

from __future__ import annotations

import signal
import sys

from infra.services.process import ServiceProcess, free_port, http_ok
from tests.support.waiting import wait_for


def _http_server(tmp_path) -> ServiceProcess:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    return ServiceProcess("http.server", command, f"http://127.0.0.1:{port}/", tmp_path / "server.log",
                          start_timeout_s=30)


def test_a_killed_service_is_restarted_on_its_address(tmp_path):
    with _http_server(tmp_path) as service:
        service.supervise(poll_s=0.05)
        first = service.process.pid
        service.process.send_signal(signal.SIGKILL)
        wait_for(lambda: service.restarts == 1 and http_ok(service.ready_url))
        assert service.process.pid != first
    assert service.process.poll() is not None and not http_ok(service.ready_url)


def test_restarts_are_bounded(tmp_path):
    with _http_server(tmp_path) as service:
        service.supervise(max_restarts=1, poll_s=0.05)
        service.process.send_signal(signal.SIGKILL)
        wait_for(lambda: service.restarts == 1 and http_ok(service.ready_url))
        service.process.send_signal(signal.SIGKILL)
        service.process.wait()
        wait_for(lambda: not service._watcher.is_alive())  # the supervisor saw the second death and gave up
        assert service.restarts == 1 and not http_ok(service.ready_url)


def test_a_stopped_service_stays_stopped(tmp_path):
    service = _http_server(tmp_path).start().supervise(poll_s=0.05)
    watcher = service._watcher
    service.stop()
    assert not watcher.is_alive()  # the supervisor has ended: nothing is left that could restart it
    assert service.restarts == 0 and service.process.poll() is not None and not http_ok(service.ready_url)
