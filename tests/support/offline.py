"""No network for a block of tests: the Hugging Face hub offline and every socket connect refused.

:func:`no_network` for a block; the ``offline`` fixture for a whole test module (made available to
every test by ``tests/conftest.py``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def no_network() -> Iterator[None]:
    import huggingface_hub.constants

    def refuse(*args, **kwargs):
        raise OSError("network access in an offline test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once, at import
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def offline():
    """Hub offline and every socket connection refused, for as long as the module's tests run.

    Module-scoped, not session-scoped: other test modules (Prefect, S3) need loopback sockets.
    """
    with no_network():
        yield
