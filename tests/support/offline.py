"""No network for a block of tests: the Hugging Face hub offline and every socket connect refused."""

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
