"""The export tests' run: the small partial run of :mod:`tests.support.small_run` in a temporary store."""

from __future__ import annotations

import pytest

from tests.support.small_run import make_run


@pytest.fixture
def run_store(tmp_path):
    """(store URL, run id) of the small run."""
    store_url = f"file://{tmp_path / 'store'}"
    make_run(store_url)
    return store_url, "r1"
