"""Fixtures for the evaluation tests: the hub offline and sockets refused while a module runs."""

from __future__ import annotations

import pytest

from tests.support.offline import no_network


@pytest.fixture(scope="module")
def offline():
    """Hub offline and every socket connection refused, for as long as the module's tests run.

    Module-scoped, not session-scoped: other test modules (Prefect, S3) need loopback sockets.
    """
    with no_network():
        yield

