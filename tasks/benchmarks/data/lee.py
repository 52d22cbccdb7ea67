"""The Lee corpus: 50 short news documents and human judgements of how similar each pair is.

Lee, Pincombe & Welsh (2005) had students rate the similarity of every pair of 50 news
documents (Australian Broadcasting Corporation news mail service) on a 1–5 scale. gensim's
wheel ships the documents (``lee.cor``, one per line, Latin-1) and the mean ratings
(``similarities0-1.txt``: a 50×50 upper-triangular matrix scaled to 0.2–1.0, diagonal 1) as
test data; gensim's own ``test_lee.py`` correlates model similarities with these 1,225 pairs.

The files are found through the installed package's location, without importing gensim
(which would pull in scipy and its compiled extensions just to read two text files):

>>> lee_data_dir().name
'test_data'
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

N_DOCUMENTS = 50


class LeeCorpus(NamedTuple):
    """The 50 documents and the symmetric 50×50 matrix of mean human ratings (0.2–1.0)."""

    documents: list[str]
    ratings: list[list[float]]


def lee_data_dir() -> Path:
    """``gensim/test/test_data`` inside the installed gensim wheel."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("gensim is not installed (pip install gensim==4.4.0): it ships the Lee corpus")
    return Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"


@lru_cache(maxsize=1)
def load_lee() -> LeeCorpus:
    """Read the documents and ratings; the stored upper triangle is mirrored to a full matrix."""
    directory = lee_data_dir()
    # Latin-1: the file has a few pound signs (0xA3) that are not valid UTF-8.
    documents = [line.strip() for line in (directory / "lee.cor").read_text(encoding="latin-1").splitlines()]
    documents = [doc for doc in documents if doc]
    rows = [
        [float(value) for value in line.split()]
        for line in (directory / "similarities0-1.txt").read_text(encoding="ascii").splitlines()
        if line.strip()
    ]
    if len(documents) != N_DOCUMENTS or len(rows) != N_DOCUMENTS or any(len(r) != N_DOCUMENTS for r in rows):
        raise ValueError(f"unexpected Lee corpus shape in {directory}: {len(documents)} docs, {len(rows)} rating rows")
    ratings = [[rows[min(i, j)][max(i, j)] for j in range(N_DOCUMENTS)] for i in range(N_DOCUMENTS)]
    return LeeCorpus(documents, ratings)


def rated_pairs(corpus: LeeCorpus) -> list[tuple[int, int, float]]:
    """Every unordered pair of distinct documents with its rating: ``(i, j, rating)``, i < j (1,225)."""
    n = len(corpus.documents)
    return [(i, j, corpus.ratings[i][j]) for i in range(n) for j in range(i + 1, n)]
