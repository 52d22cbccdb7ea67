"""Meaning checks with the real teacher (multilingual-e5-small): planted garbage of each kind is
dropped with its own reason, real translations are kept (≥ 98 %), and a rerun embeds nothing."""

from __future__ import annotations

import random

import polars as pl
import pytest

from tasks.benchmarks.data.bbc import load_bbc_news
from tasks.benchmarks.data.bible import distinct_pairs, load_bible_pairs
from tasks.clean import meaning
from tasks.clean.embedding_cache import RunVectors
from tasks.clean.filters import clean_run
from tasks.clean.meaning import find_inconsistent
from tasks.clean.settings import CleanSettings
from tasks.clean.teacher import E5SmallTeacher
from tasks.runs.manifest import save_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.clean.teachers import CountingTeacher
from tests.support.clean_frames import frame, sentences
from tests.support.real_text import translation_pairs
from tests.support.runs import row, write_run


@pytest.fixture(scope="module")
def verses():
    return random.Random(0).sample(distinct_pairs(load_bible_pairs()), 200)


def _bitext(pairs, language="en") -> pl.DataFrame:
    return frame([{"example_id": f"b{i:04d}", "task_type": "bitext", "language": language, "query": en, "positive": es}
                  for i, (en, es) in enumerate(pairs)])


@pytest.mark.parametrize("source", ["bible", "django"])
def test_real_translations_are_kept(source, verses, e5_vectors):
    # Given real English-Spanish pairs: 200 Bible verses, or every usable string of Django's Spanish catalogs
    pairs = [(v.en, v.es) for v in verses] if source == "bible" else translation_pairs("es")
    rows = _bitext(pairs)
    # When the meaning checks run with their defaults
    found = find_inconsistent(rows, e5_vectors)
    # Then at least 98 % are kept
    assert len(found) <= 0.02 * len(rows), found


def _stories(lee_background, n):
    return [d for d in lee_background if 80 <= len(d.split()) <= 250][:n]


@pytest.fixture(scope="module")
def planted(lee_background, verses) -> tuple[list[dict], dict[str, str]]:
    """Rows of each task type from real text, and garbage planted among them: id -> expected reason."""
    rows = []
    stories = _stories(lee_background, 14)
    for i, story in enumerate(stories[:12]):  # retrieval: a story's opening sentence finds the rest of it
        first, rest = sentences(story)[0], " ".join(sentences(story)[1:])
        nxt = " ".join(sentences(stories[i + 1])[1:])
        rows.append(row(100 + i, task_type="retrieval", query=first, positive=rest, negative=nxt))
    a, b, c = (sentences(s) for s in stories[:3])
    rows.append(row(200, task_type="retrieval", query=a[1], positive=" ".join(b[1:]), negative=" ".join(a[1:])))
    rows.append(row(201, task_type="retrieval", query=c[1], positive="Similarity score: 5", negative=None))
    for i, v in enumerate(verses[:8]):  # bitext: a verse, its translation, another verse's translation
        rows.append(row(300 + i, task_type="bitext", query=v.en, positive=v.es, negative=verses[20 + i].es))
    rows.append(row(400, task_type="bitext", query="The quick brown fox jumps over the lazy dog",
                    positive="La llama y el perro son ríos", negative=None))
    for i, story in enumerate(stories[:6]):  # STS: a sentence, the same with a clause cut, another sentence
        s1 = sentences(story)[0]
        s2 = s1.split(",")[0].rstrip(".") + "." if "," in s1 else " ".join(s1.split()[:-2]) + "."
        rows.append(row(500 + i, task_type="sts", query=s1, positive=s2, negative=sentences(story)[-1]))
    s1 = sentences(stories[7])[0]
    rows.append(row(600, task_type="sts", query=s1, positive=sentences(stories[7])[-1],
                    negative=" ".join(s1.split()[:-2]) + "."))
    articles = [a for a in load_bbc_news() if a.label in ("sports", "politics")]
    for i, article in enumerate(articles[:3] + articles[-3:]):  # classification: the section, another section
        text = " ".join(sentences(article.text.split("\n", 1)[1].strip())[:3])
        other = "politics" if article.label == "sports" else "sports"
        label, misleading = (other, article.label) if i == 5 else (article.label, other)
        rows.append(row(700 + i, task_type="classification", query=text, positive=label, negative=misleading))
    expected = {f"{200:016x}": meaning.NEGATIVE_ABOVE, f"{201:016x}": meaning.NOT_IN_TOP_K,
                f"{400:016x}": meaning.NOT_A_TRANSLATION, f"{600:016x}": meaning.STS_ORDER, f"{705:016x}": meaning.LABEL}
    return rows, expected


def test_planted_garbage_is_dropped_each_with_its_own_reason(planted, tmp_path, e5_vectors):
    rows, expected = planted
    store = open_store(f"file://{tmp_path}/store")
    manifest = write_run(store, "r1", rows)
    # When the run is cleaned (near-duplicates and meaning as by default; the verses are evaluation data)
    settings = CleanSettings(decontaminate="off", meaning_top_k=3, mine_negatives=0)
    cleaned = clean_run(store, manifest, settings)
    save_manifest(store, cleaned)
    # Then exactly the planted rows are flagged, each with its reason, and readers leave them out
    entry = cleaned.filters["meaning"]
    verdicts = pl.read_parquet(entry.path)
    assert dict(verdicts.select("example_id", "reason").iter_rows()) == expected, verdicts
    assert entry.action == "drop" and entry.rows_checked == len(rows)
    assert entry.counts == {reason: 1 for reason in expected.values()}
    kept = set(scan_run(store, "r1").collect()["example_id"])
    assert kept == {r["example_id"] for r in rows} - set(expected)
    # And a rerun embeds nothing: every text's vector is in the run
    counting = CountingTeacher(E5SmallTeacher())
    again = RunVectors(store, "r1", counting)
    find_inconsistent(scan_run(store, "r1", filtered=False).collect(), again, top_k=3)
    assert counting.texts == 0 and counting.calls == 0


def test_mark_keeps_the_rows_and_off_runs_no_teacher(planted, tmp_path):
    rows, expected = planted
    store = open_store(f"file://{tmp_path}/store")
    manifest = write_run(store, "r1", rows)
    only_meaning = {"decontaminate": "off", "near_duplicates": False, "mine_negatives": 0}
    cleaned = clean_run(store, manifest, CleanSettings(meaning="mark", meaning_top_k=3, **only_meaning))
    save_manifest(store, cleaned)
    assert cleaned.filters["meaning"].action == "mark" and cleaned.filters["meaning"].counts == {
        reason: 1 for reason in expected.values()}
    assert scan_run(store, "r1").collect().height == len(rows)  # marked, not dropped
    assert clean_run(store, manifest, CleanSettings(meaning="off", **only_meaning)).filters == {}
