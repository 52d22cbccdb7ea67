"""Teachers for the cleaning tests: a bag-of-words stand-in for the pure logic, and a counter of calls.

:class:`WordTeacher` embeds a text as its hashed lowercase words of 4+ letters (unit length), so two texts score
their word overlap: what a logic test can reason about without a model. :class:`CountingTeacher`
wraps any teacher and counts what reaches it (the cache tests).

>>> t = WordTeacher()
>>> v = t.embed(["fresh apple", "fresh apple", "blue skies"], "query")
>>> round(float(v[0] @ v[1]), 3), round(float(v[0] @ v[2]), 3)
(1.0, 0.0)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np


class WordTeacher:
    """Hashed set of the words of 4 letters or more, in ``dim`` dimensions; the role does not matter."""

    key = "words-test"

    def __init__(self, dim: int = 4096) -> None:
        self.dim = dim

    def model_input(self, text: str, role: str) -> str:
        return text

    def embed(self, texts: Sequence[str], role: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in set(re.findall(r"\w{4,}", text.lower())):  # content words, once: stopwords would dominate
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] = 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class CountingTeacher:
    """Any teacher, with every text it is asked to embed counted (``texts``) and the calls (``calls``)."""

    def __init__(self, inner) -> None:
        self.inner, self.key, self.texts, self.calls = inner, inner.key, 0, 0

    def model_input(self, text: str, role: str) -> str:
        return self.inner.model_input(text, role)

    def embed(self, texts: Sequence[str], role: str) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.embed(texts, role)
