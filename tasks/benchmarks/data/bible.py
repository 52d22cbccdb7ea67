"""English–Spanish Bible verses aligned by reference: a real, public-domain parallel corpus.

Debian ships SWORD Bible modules; ``mod2imp`` (``libsword-utils``) exports one as IMP text,
a ``$$$Book Chapter:Verse`` header followed by the verse in OSIS markup (``infra/eval_data.sh``
does the export into ``${SYNTHEMBED_CACHE:-~/.cache/synthembed}/eval/sword/``). We pair the
World English Bible (``engWEB2015eb``) with the Reina-Valera 1909 (``spaRV1909eb``) verse by
verse, after stripping footnotes (``<note>…</note>``), section headings and every other tag.

Same reference does not always mean same verse. The Spanish module follows the Hebrew
numbering in a few chapters (its Job 39:1 is the English Job 38:39) while keeping the English
keys, so those chapters are shifted. Both Spanish and King James modules tag words with the
Strong's number of the Hebrew/Greek word they translate, so a correctly placed Spanish verse
shares most of its Strong's numbers with the KJV verse of the same key, and a shifted one
shares more with a neighbour. Such verses (and whole chapters where they are common) are
dropped: of 31,102 common references (31,077 with text on both sides) 30,838 are kept. A few
verse texts occur more than once (refrains, the twelve offerings of Numbers 7); mining and
retrieval tasks use :func:`distinct_pairs`, since such a verse has no single right answer.

>>> clean_osis('<w lemma="strong:H0430">God</w> said, “<w>Let</w> there be light,”<note>a note</note>.')
'God said, “Let there be light,”.'
>>> sample_pairs([VersePair("Genesis 1:1", "In the beginning", "EN el principio")], 5, seed=0)[0].es
'EN el principio'
"""

from __future__ import annotations

import html
import json
import random
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from tasks.benchmarks.data import eval_cache_dir

ENGLISH = "engWEB2015eb"  # World English Bible (2015 edition, Debian sword-text-web)
SPANISH = "spaRV1909eb"  # Reina-Valera 1909 (Debian sword-text-sparv)
KJV = "engKJV2006eb"  # King James Version with Strong's numbers (Debian sword-text-kjv): the alignment check
MODULES = (ENGLISH, SPANISH, KJV)

# Below this Strong's overlap with the KJV verse of the same key, a Spanish verse is not trusted.
MIN_STRONGS_JACCARD = 0.2
# A chapter where more than this share of verses fails the check is shifted as a whole: drop it.
MAX_CHAPTER_FAILURES = 0.25
# One side more than 3x longer (in characters) than the other: the two versions cut the verse
# differently (e.g. the WEB's Romans 14:23 also holds the doxology). Legitimate differences,
# such as the Spanish subscriptions after an epistle's last verse, stay under it.
MAX_LENGTH_RATIO = 3.0
# Bump when parsing or filtering changes, so stale parsed caches are rebuilt.
PARSER_VERSION = 2

Ref = tuple[str, int, int]  # (book, chapter, verse)

_HEADER = re.compile(r"^\$\$\$(.+) (\d+):(\d+)$")
# The WEB appends its glossary to the last verse of Revelation after the book's closing tag.
_NON_SCRIPTURE = re.compile(
    r'<div\b(?=[^>]*\bsID=)(?=[^>]*\btype="(?:glossary|front|back|introduction)")[^>]*>.*', re.S
)
_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
_HEADING = re.compile(r'<title\b(?![^>]*canonical="true")[^>]*>.*?</title>', re.S)  # psalm titles are canonical: kept
_TAG = re.compile(r"<[^>]*>")
_STRONGS = re.compile(r"strong:([GH])0*(\d+)")


class VersePair(NamedTuple):
    """One verse in both languages; ``ref`` is the English-style key, e.g. ``"Genesis 1:1"``."""

    ref: str
    en: str
    es: str


def export_dir() -> Path:
    """Where ``infra/eval_data.sh`` (or :func:`ensure_exports`) writes the IMP exports."""
    return eval_cache_dir() / "sword"


def ensure_exports(directory: Path | None = None) -> dict[str, Path]:
    """The IMP export of each module, running ``mod2imp`` for any that is missing.

    Raises:
        FileNotFoundError: an export is missing and ``mod2imp`` is not installed.
    """
    directory = directory or export_dir()
    paths = {module: directory / f"{module}.imp" for module in MODULES}
    missing = [module for module, path in paths.items() if not path.is_file() or path.stat().st_size == 0]
    if missing and shutil.which("mod2imp") is None:
        raise FileNotFoundError(f"no export of {missing} in {directory} and no mod2imp: run infra/eval_data.sh")
    directory.mkdir(parents=True, exist_ok=True)
    for module in missing:
        # ~0.5 s per module; a temporary name keeps an interrupted export from looking finished.
        tmp = paths[module].with_suffix(".tmp")
        with tmp.open("wb") as out:
            subprocess.run(["mod2imp", module], stdout=out, stderr=subprocess.DEVNULL, check=True, timeout=300)
        tmp.replace(paths[module])
    return paths


def read_imp(path: Path) -> dict[Ref, str]:
    """The raw (marked-up) text of every verse in an IMP export, in file order.

    Book/testament headings and verse 0 (book and chapter introductions) are skipped.
    """
    verses: dict[Ref, str] = {}
    ref: Ref | None = None
    lines: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("$$$"):
                if ref is not None:
                    verses[ref] = "\n".join(lines)
                match = _HEADER.match(line.rstrip("\n"))
                ref = (match[1], int(match[2]), int(match[3])) if match else None
                if ref is not None and (ref[1] == 0 or ref[2] == 0):
                    ref = None
                lines = []
            else:
                lines.append(line.rstrip("\n"))
    if ref is not None:
        verses[ref] = "\n".join(lines)
    return verses


def clean_osis(raw: str) -> str:
    """Plain text of one verse: no notes, headings or tags, entities decoded, spacing tidied."""
    text = _NON_SCRIPTURE.sub(" ", raw)
    text = _NOTE.sub(" ", text)
    text = _HEADING.sub(" ", text)
    # Tags become spaces (two words may be separated by nothing but tags), then spaces that the
    # tags left inside punctuation are removed again.
    text = html.unescape(_TAG.sub(" ", text))
    text = " ".join(text.split())
    text = re.sub(r"\s+([,.;:!?”’)\]])", r"\1", text)
    return re.sub(r"([“‘(\[¿¡])\s+", r"\1", text)


def strongs_numbers(raw: str) -> frozenset[str]:
    """The Strong's numbers tagged in a verse, normalised (``H0430`` -> ``H430``)."""
    return frozenset(f"{letter}{number}" for letter, number in _STRONGS.findall(raw))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def _well_placed(ref: Ref, spanish: dict[Ref, frozenset[str]], kjv: dict[Ref, frozenset[str]]) -> bool:
    """Does the Spanish verse at ``ref`` translate the KJV verse at ``ref`` rather than a neighbour?"""
    book, chapter, verse = ref
    same = _jaccard(spanish[ref], kjv.get(ref, frozenset()))
    neighbours = max(_jaccard(spanish[ref], kjv.get((book, chapter, verse + d), frozenset())) for d in (-1, 1))
    return same >= MIN_STRONGS_JACCARD and same >= neighbours


def align(english_raw: dict[Ref, str], spanish_raw: dict[Ref, str], kjv_raw: dict[Ref, str]) -> list[VersePair]:
    """Pair English and Spanish verses by reference, keeping only pairs the KJV check trusts."""
    candidates: list[tuple[Ref, str, str]] = []
    for ref, raw in english_raw.items():
        if ref not in spanish_raw:
            continue  # deuterocanonical books and a few versification extras exist only in the WEB
        en, es = clean_osis(raw), clean_osis(spanish_raw[ref])
        # A verse left empty on one side was merged into a neighbour there.
        if en and es and max(len(en), len(es)) <= MAX_LENGTH_RATIO * min(len(en), len(es)):
            candidates.append((ref, en, es))

    spanish = {ref: strongs_numbers(spanish_raw[ref]) for ref, _, _ in candidates}
    kjv = {ref: strongs_numbers(raw) for ref, raw in kjv_raw.items()}
    placed = {ref: _well_placed(ref, spanish, kjv) for ref, _, _ in candidates}
    per_chapter: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for (book, chapter, _), ok in placed.items():
        per_chapter[book, chapter].append(ok)
    shifted = {c for c, oks in per_chapter.items() if oks.count(False) / len(oks) > MAX_CHAPTER_FAILURES}

    return [
        VersePair(f"{book} {chapter}:{verse}", en, es)
        for (book, chapter, verse), en, es in candidates
        if placed[book, chapter, verse] and (book, chapter) not in shifted
    ]


def _source_stamp(paths: dict[str, Path]) -> dict[str, list[int]]:
    return {module: [path.stat().st_size, path.stat().st_mtime_ns] for module, path in paths.items()}


@lru_cache(maxsize=1)
def load_bible_pairs() -> list[VersePair]:
    """All aligned English–Spanish verse pairs (30,838), in canonical book order.

    Parsing the three exports takes a few seconds, so the result is cached as JSON next to
    them and rebuilt when an export or :data:`PARSER_VERSION` changes.
    """
    paths = ensure_exports()
    cache = eval_cache_dir() / "bible_en_es.json"
    stamp = {"version": PARSER_VERSION, "sources": _source_stamp(paths)}
    if cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("stamp") == stamp:
            return [VersePair(*row) for row in stored["pairs"]]
    pairs = align(read_imp(paths[ENGLISH]), read_imp(paths[SPANISH]), read_imp(paths[KJV]))
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"stamp": stamp, "pairs": pairs}, ensure_ascii=False), encoding="utf-8")
    tmp.replace(cache)
    return pairs


def distinct_pairs(pairs: list[VersePair]) -> list[VersePair]:
    """The pairs whose English and Spanish texts each occur only once in ``pairs``."""
    en_counts = Counter(pair.en for pair in pairs)
    es_counts = Counter(pair.es for pair in pairs)
    return [pair for pair in pairs if en_counts[pair.en] == 1 and es_counts[pair.es] == 1]


def sample_pairs(pairs: list[VersePair], n: int, seed: int) -> list[VersePair]:
    """``n`` pairs drawn without replacement by a seeded RNG (all of them if ``n`` is larger).

    Kept in canonical order, so a sample reads like the Bible it came from.
    """
    if n >= len(pairs):
        return list(pairs)
    chosen = sorted(random.Random(seed).sample(range(len(pairs)), n))
    return [pairs[i] for i in chosen]
