"""Synthetic generated rows with known near-duplicates and known contamination, for bench_dedup.

Texts are recombined real sentences, so word frequencies and sentence lengths are those of
real prose. English comes from gensim's Lee *background* corpus (300 ABC news documents that
the offline suite does not score). The other languages are word-by-word ciphers of the World
English Bible's verses (when the Debian export exists; else of the Lee sentences): each word
maps to a fixed pseudo-word of Latin letters (es, de, fr), 1-3 Han characters with no spaces
(zh, ja) or 3-7 Thai letters with no spaces (th). A cipher keeps Zipf's law, repetition and
sentence structure, while no ciphered text can match an evaluation text by accident.

Every row gets a fresh query (thirds of three random sentences) and fresh documents (random
sentences); then a share of rows are *copies* of an earlier row of the same task type and
language with one edit to the query or to the document (``EDITS``), applied to the English
words before ciphering. Some English and ciphered-Spanish documents (never a copy, never
copied) get a real evaluation text planted at a sentence boundary (a Bible verse, a short
verse of 8-12 words, or a BBC News sentence), to measure decontamination recall.

>>> cipher_word("house", "zh") == cipher_word("house", "zh") != cipher_word("house", "th")
True
"""

from __future__ import annotations

import hashlib
import random
import re
from functools import cache

import polars as pl

LANGUAGE_SHARES = {"en": 0.40, "es": 0.10, "de": 0.10, "fr": 0.10, "zh": 0.12, "ja": 0.06, "th": 0.12}
TASK_TYPES = {
    "retrieval": 0.3,
    "classification": 0.15,
    "short_short": 0.15,
    "long_long": 0.1,
    "sts": 0.15,
    "bitext": 0.15,
}
UNSPACED = {"zh", "ja", "th"}
COPY_SHARE = 0.10
# Of the rows that can hold a plant (English or Spanish retrieval and long_long documents,
# ~20 % of all rows): ~0.4 % of all rows are contaminated.
PLANT_PROBABILITY = 0.02
QUERY_EDITS = ("exact", "case_punct", "add_word", "drop_word")
DOCUMENT_EDITS = ("case_punct", "replace_3_words", "add_sentence", "drop_sentence")
EDITS = QUERY_EDITS + DOCUMENT_EDITS
FILLERS = ("the", "very", "also", "really", "just", "a")
LABELS = ("positive", "negative", "neutral", "sports", "politics", "science", "health", "travel")
_HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 6000)]
_KANA = [chr(c) for c in range(0x3041, 0x3097)]
_THAI = [chr(c) for c in range(0x0E01, 0x0E2F)] + [chr(c) for c in range(0x0E30, 0x0E3A)]
_LATIN = "abcdefghijklmnopqrstuvwxyzäéèüöñß"
_WORD = re.compile(r"^(\W*)(.*?)(\W*)$")


@cache
def cipher_word(word: str, language: str) -> str:
    """The fixed pseudo-word of an English word in a ciphered language."""
    rng = random.Random(hashlib.blake2b(f"{language}:{word.lower()}".encode(), digest_size=8).digest())
    if language in ("zh", "ja"):
        alphabet = _HAN if language == "zh" or rng.random() < 0.6 else _KANA
        return "".join(rng.choice(alphabet) for _ in range(rng.choice((1, 1, 2, 2, 2, 3))))
    if language == "th":
        return "".join(rng.choice(_THAI) for _ in range(rng.randint(3, 7)))
    return "".join(rng.choice(_LATIN) for _ in range(max(1, len(word) + rng.randint(-1, 2))))


def render(sentences: list[list[str]], language: str) -> str:
    """Words -> text: English as is; ciphered languages word by word, keeping punctuation
    (Chinese and Japanese end sentences with 。 and use no spaces; Thai spaces only sentences)."""
    if language == "en":
        return " ".join(" ".join(words) for words in sentences)
    joiner = "" if language in UNSPACED else " "
    out = [joiner.join([_render_word(word, language) for word in words]) for words in sentences]
    return ("" if language in ("zh", "ja") else " ").join(out)


@cache
def _render_word(word: str, language: str) -> str:
    lead, core, tail = _WORD.match(word).groups()
    core = cipher_word(core, language) if core else ""
    if language not in UNSPACED and word[:1].isupper():
        core = core.capitalize()
    return lead + core + (tail.replace(".", "。") if language in ("zh", "ja") else tail)


def sentence_pools() -> tuple[list[list[str]], list[list[str]]]:
    """(English sentences from Lee background, source sentences to cipher), as word lists."""
    from tasks.benchmarks.data.lee import lee_data_dir

    text = (lee_data_dir() / "lee_background.cor").read_text(encoding="latin-1")
    lee = [
        s.split() for line in text.splitlines() for s in re.split(r"(?<=[.!?])\s+", line.strip()) if len(s.split()) >= 5
    ]
    try:
        from tasks.benchmarks.data.bible import load_bible_pairs

        verses = [p.en.split() for p in load_bible_pairs() if len(p.en.split()) >= 5]
    except FileNotFoundError:
        verses = lee
    return lee, verses


def evaluation_plants() -> list[tuple[str, str]]:
    """(kind, text) of real evaluation texts to plant: long and short Bible verses, BBC sentences."""
    from tasks.benchmarks.data.bbc import load_bbc_news

    plants = []
    try:
        from tasks.benchmarks.data.bible import distinct_pairs, load_bible_pairs

        pairs = distinct_pairs(load_bible_pairs())
        plants += [("verse", p.en) for p in pairs if len(p.en.split()) >= 15][:3000]
        plants += [("verse_es", p.es) for p in pairs if len(p.es.split()) >= 15][:1000]
        plants += [("short_verse", p.en) for p in pairs if 8 <= len(p.en.split()) <= 12][:2000]
    except FileNotFoundError:
        pass
    for article in load_bbc_news(deduplicate=True)[:500]:
        body = article.text.split("\n\n", 1)[-1]
        plants += [("bbc", s) for s in re.split(r"(?<=[.!?])\s+", body) if len(s.split()) >= 15][:2]
    return plants


def _edit(rng: random.Random, sentences: list[list[str]], edit: str, pool: list[list[str]]) -> list[list[str]] | None:
    """One edit of a text (as sentences of words), or None when the text is too short for it."""
    s = [list(words) for words in sentences]
    words = sum(len(w) for w in s)
    if edit == "exact":
        return s
    if edit == "case_punct":
        for ws in s:
            ws[:] = [w.lower().rstrip(",;") for w in ws]
            ws[0], ws[-1] = ws[0].upper(), ws[-1].rstrip(".") + "!"
        return s
    if edit in ("add_word", "drop_word"):
        if words < 10:
            return None
        target = s[rng.randrange(len(s))]
        if edit == "add_word":
            target.insert(rng.randrange(len(target) + 1), rng.choice(FILLERS))
        elif len(target) > 1:
            del target[rng.randrange(len(target))]
        return s
    if edit == "replace_3_words":
        if words < 60:
            return None
        flat = [(i, j) for i, ws in enumerate(s) for j in range(len(ws))]
        for i, j in rng.sample(flat, 3):
            s[i][j] = rng.choice(rng.choice(pool))
        return s
    if edit == "add_sentence":
        return s + [rng.choice(pool)] if len(s) >= 4 else None
    if edit == "drop_sentence":
        return s[:-1] if len(s) >= 5 else None
    raise ValueError(edit)


def make_rows(n: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(rows, copies, plants): the rows; each copy's example_id, its original's, field and edit;
    each contaminated row's example_id and what was planted in its positive."""
    rng = random.Random(seed)
    lee, verses = sentence_pools()
    plants = evaluation_plants()
    plants_by_language = {lang: [p for p in plants if (p[0] == "verse_es") == (lang == "es")] for lang in ("en", "es")}
    languages, language_weights = list(LANGUAGE_SHARES), list(LANGUAGE_SHARES.values())
    types, type_weights = list(TASK_TYPES), list(TASK_TYPES.values())
    rows, copies, planted, history = [], [], [], {}

    def sentences(pool, k):
        return [pool[rng.randrange(len(pool))] for _ in range(k)]

    def query(pool):
        parts = [pool[rng.randrange(len(pool))] for _ in range(3)]
        return [[w for third, p in enumerate(parts) for w in p[third * len(p) // 3 : (third + 1) * len(p) // 3]][:25]]

    for index in range(n):
        language = rng.choices(languages, language_weights)[0]
        task_type = rng.choices(types, type_weights)[0]
        pool = lee if language == "en" else verses
        long = task_type in ("retrieval", "long_long", "classification")
        q = sentences(pool, rng.randint(6, 12)) if task_type == "long_long" else query(pool)
        if task_type == "classification":
            q = sentences(pool, rng.randint(2, 6))  # one sentence of a 2.6k pool would repeat by chance
        p = sentences(pool, rng.randint(3, 10)) if long else query(pool)
        neg = sentences(pool, rng.randint(3, 6)) if long else query(pool)
        key, is_copy = (task_type, language), False
        if history.get(key) and rng.random() < COPY_SHARE:
            original = rng.choice(history[key])
            field = "query" if task_type == "classification" or rng.random() < 0.5 else "positive"
            edit = rng.choice(QUERY_EDITS if field == "query" else DOCUMENT_EDITS)
            edited = _edit(rng, original[field], edit, lee)
            if edited is not None:
                q, p = (edited, p) if field == "query" else (q, edited)
                copies.append({"index": index, "original": original["index"], "field": field, "edit": edit})
                is_copy = True
        positive = render(p, language) if task_type != "classification" else rng.choice(LABELS)
        # Plants and copies are kept apart, so that each measures one thing: a copy is never planted,
        # a planted row is never copied.
        plant = not is_copy and language in ("en", "es") and task_type in ("retrieval", "long_long")
        if not (plant and rng.random() < PLANT_PROBABILITY):
            history.setdefault(key, []).append({"index": index, "query": q, "positive": p})
        else:
            kind, text = rng.choice(plants_by_language[language] or plants)
            cut = positive.split(". ")
            at = rng.randrange(len(cut) + 1)
            positive = ". ".join(cut[:at] + [text.rstrip(".")] + cut[at:])
            planted.append({"index": index, "kind": kind, "text": text})
        negative = render(neg, language) if task_type != "classification" else rng.choice(LABELS)
        rows.append(
            {
                "index": index,
                "task_type": task_type,
                "language": language,
                "task": f"{task_type} task {rng.randrange(40)} for {language}",
                "query": render(q, language),
                "positive": positive,
                "negative": None if task_type in ("short_short", "long_long") else negative,
            }
        )
    frame = pl.DataFrame(rows).with_columns(
        example_id=pl.col("index").map_elements(
            lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:16], pl.String
        )
    )
    ids = frame["example_id"]
    copies_frame = pl.DataFrame(
        copies, schema={"index": pl.Int64, "original": pl.Int64, "field": pl.String, "edit": pl.String}
    )
    copies_frame = copies_frame.with_columns(
        example_id=ids.gather(copies_frame["index"]), original_id=ids.gather(copies_frame["original"])
    )
    plants_frame = pl.DataFrame(planted, schema={"index": pl.Int64, "kind": pl.String, "text": pl.String})
    plants_frame = plants_frame.with_columns(example_id=ids.gather(plants_frame["index"]))
    return frame.drop("index"), copies_frame.drop("index", "original"), plants_frame.drop("index")
