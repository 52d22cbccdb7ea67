"""Fixtures for the evaluation tests: the hub offline and sockets refused while a module runs."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(scope="module")
def offline():
    """Hub offline and every socket connection refused, for as long as the module's tests run.

    Module-scoped, not session-scoped: other test modules (Prefect, S3) need loopback sockets.
    """
    import huggingface_hub.constants

    def refuse(*args, **kwargs):
        raise OSError("network access in an offline test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once, at import
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield

