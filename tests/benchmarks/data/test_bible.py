"""The Bible loader: ~31k aligned pairs, no markup left, shifted verses dropped, seeded samples."""

from __future__ import annotations

import pytest

from tasks.benchmarks.data import bible
from tasks.benchmarks.data.bible import VersePair, align, clean_osis, distinct_pairs, load_bible_pairs, sample_pairs


@pytest.fixture(scope="module")
def pairs() -> list[VersePair]:
    return load_bible_pairs()


def test_about_31k_pairs_with_unique_references(pairs):
    # 31,102 references are common to both modules; versification shifts and merges cost ~260.
    assert 30_500 < len(pairs) <= 31_102
    assert len({p.ref for p in pairs}) == len(pairs)
    assert pairs[0] == VersePair(
        "Genesis 1:1",
        "In the beginning, God created the heavens and the earth.",
        "EN el principio crió Dios los cielos y la tierra.",
    )
    assert pairs[-1].ref == "Revelation of John 22:21"


def test_no_markup_and_no_empty_or_padded_text(pairs):
    for pair in pairs:
        for text in (pair.en, pair.es):
            assert text and "<" not in text and ">" not in text and "&" not in text, pair
            assert text == " ".join(text.split()), pair


def test_footnotes_and_the_appended_glossary_are_gone(pairs):
    by_ref = {p.ref: p for p in pairs}
    # Genesis 2:4's footnote ("“Yahweh” is God’s proper Name, …") sat between "Yahweh" and "God".
    assert by_ref["Genesis 2:4"].en.endswith("in the day that Yahweh God made the earth and the heavens.")
    assert by_ref["Revelation of John 22:21"].en == "The grace of the Lord Jesus Christ be with all the saints. Amen."
    # Psalm titles are canonical text in both versions: kept.
    assert by_ref["Psalms 3:1"].en.startswith("A Psalm by David, when he fled from Absalom his son.")
    assert by_ref["Psalms 3:1"].es.startswith("Salmo de David, cuando huía de delante de Absalom su hijo.")


def test_chapters_with_shifted_spanish_numbering_are_dropped(pairs):
    # The Spanish module numbers Job 39, Jonah 2 and Hosea 12 the Hebrew way (Job 39:1 is the
    # English 38:39): the same key holds a different verse, so nothing of those chapters is kept.
    refs = {p.ref for p in pairs}
    for chapter in ("Job 39:", "Jonah 2:", "Hosea 12:", "Numbers 13:"):
        assert not any(ref.startswith(chapter) for ref in refs), chapter
    assert "Job 38:38" in refs and "Genesis 50:26" in refs


def _strongs(*numbers: int) -> str:
    return " ".join(f'<w lemma="strong:H{n:04d}">palabra</w>' for n in numbers)


def test_a_spanish_verse_holding_the_neighbouring_verse_is_dropped():
    # Given five verses whose KJV words are H10x, H20x, ...; the Spanish verse 2 holds verse 3's words.
    refs = [("Book", 1, v) for v in range(1, 6)]
    kjv = {ref: _strongs(ref[2] * 100, ref[2] * 100 + 1) for ref in refs}
    es = {ref: _strongs(ref[2] * 100, ref[2] * 100 + 1) for ref in refs} | {("Book", 1, 2): _strongs(300, 301)}
    en = {ref: f"English verse {ref[2]}" for ref in refs}
    # Then only verse 2 goes (one failure in five leaves the chapter).
    assert [p.ref for p in align(en, es, kjv)] == ["Book 1:1", "Book 1:3", "Book 1:4", "Book 1:5"]
    # When most of the chapter fails, the verses that pass by chance go too.
    shifted = {ref: _strongs((ref[2] + 1) * 100) for ref in refs[:3]}
    assert [p.ref for p in align(en, es | shifted, kjv)] == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('<w>Yahweh</w><note placement="foot"><reference>2:4</reference>“Yahweh” is a name.</note><w>God</w>.',
         "Yahweh God."),
        ('<title type="main">A section heading</title> <w>Text</w> &amp; more', "Text & more"),
        ('<title canonical="true" type="psalm">A Psalm.</title> <l sID="x"/>Words<l eID="x"/>', "A Psalm. Words"),
        ('¡<w>OH</w> <w>Jehová</w>, cuánto! ¿ <w>Qué</w> ?', "¡OH Jehová, cuánto! ¿Qué?"),
        ('Amen. <div eID="b" type="book"/> <div sID="g1" type="glossary"/> <title>Glossary</title> Abaddon', "Amen."),
    ],
)
def test_clean_osis(raw, expected):
    assert clean_osis(raw) == expected


def test_distinct_pairs_drop_every_copy_of_a_repeated_text(pairs):
    distinct = distinct_pairs(pairs)
    assert 29_500 < len(distinct) < len(pairs)
    assert len({p.en for p in distinct}) == len({p.es for p in distinct}) == len(distinct)
    assert not any(p.ref == "Numbers 7:14" for p in distinct)  # one of the twelve identical offerings


def test_sample_is_seeded_sized_and_in_canonical_order(pairs):
    a = sample_pairs(pairs, 500, seed=1)
    assert a == sample_pairs(pairs, 500, seed=1)
    assert len(a) == 500 and a != sample_pairs(pairs, 500, seed=2)
    index = {p.ref: i for i, p in enumerate(pairs)}
    assert [index[p.ref] for p in a] == sorted(index[p.ref] for p in a)
    assert sample_pairs(pairs[:10], 50, seed=1) == pairs[:10]


def test_parsed_pairs_are_cached_next_to_the_exports(pairs):
    cache = bible.eval_cache_dir() / "bible_en_es.json"
    assert cache.is_file() and all(path.is_file() for path in bible.ensure_exports().values())
    load_bible_pairs.cache_clear()
    assert load_bible_pairs() == pairs  # read back from the JSON cache
