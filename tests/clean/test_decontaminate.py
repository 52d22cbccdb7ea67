"""Decontamination: planted evaluation texts are found and named; everything else is left alone."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tasks.benchmarks.data import bible
from tasks.benchmarks.data.bible import distinct_pairs, load_bible_pairs
from tasks.benchmarks.data.lee import load_lee
from tasks.clean.decontaminate import build_index, evaluation_texts_from_file, find_contaminated, offline_suite_texts
from tests.support.clean_frames import frame, sentences

CHINESE_EVAL = "人工智能正在改变医疗行业，医生可以借助深度学习模型更早地发现癌症的迹象，从而挽救更多病人的生命。"


@pytest.fixture(scope="module")
def verses() -> list[bible.VersePair]:
    return distinct_pairs(load_bible_pairs())


@pytest.fixture(scope="module")
def index(verses):
    """Every English verse (two Bible tasks score them), the Spanish ones, the Lee documents, one Chinese text."""
    texts = [(f"offline:{task}", v.en) for v in verses for task in ("BibleBitextMining", "BibleRetrievalEnEs")]
    texts += [("offline:BibleRetrievalEsEn", v.es) for v in verses]
    texts += [("offline:LeeDocumentSimilarity", doc) for doc in load_lee().documents]
    texts += [("file:/eval/zh.txt", CHINESE_EVAL)]
    return build_index(texts)


def _verse(verses, low: int, high: int) -> str:
    return next(v.en for v in verses if low <= len(v.en.split()) <= high)


def test_planted_verses_in_a_long_document_are_found_with_their_sources(index, verses, lee_background):
    # Given generated documents, two with a real verse planted between their sentences
    long_verse, short_verse = _verse(verses, 25, 40), _verse(verses, 9, 9)
    story = sentences(lee_background[12])
    planted = " ".join(story[:2] + [long_verse] + story[2:])
    planted_short = " ".join(story[:1] + [short_verse] + story[1:])
    rows = frame(
        [
            {"example_id": "clean", "positive": lee_background[12]},
            {"example_id": "long", "positive": planted},
            {"example_id": "short", "positive": planted_short, "negative": lee_background[13]},
        ]
    )
    # Then exactly those two are flagged, naming both tasks that score English verses
    assert find_contaminated(rows, index).rows() == [
        ("long", "contaminated", "positive", "offline:BibleBitextMining"),
        ("long", "contaminated", "positive", "offline:BibleRetrievalEnEs"),
        ("short", "contaminated", "positive", "offline:BibleBitextMining"),
        ("short", "contaminated", "positive", "offline:BibleRetrievalEnEs"),
    ]


def test_lee_sentence_found_despite_case_and_punctuation_in_any_field(index):
    lee_sentence = next(s for s in sentences(load_lee().documents[3]) if len(s.split()) >= 15)
    rows = frame(
        [
            {"example_id": "q", "query": lee_sentence.upper().replace(",", " ;")},
            {"example_id": "n", "negative": "As reported: " + lee_sentence.lower()},
        ]
    )
    assert find_contaminated(rows, index).rows() == [
        ("n", "contaminated", "negative", "offline:LeeDocumentSimilarity"),
        ("q", "contaminated", "query", "offline:LeeDocumentSimilarity"),
    ]


def test_overlap_must_reach_thirteen_words(index, verses):
    words = _verse(verses, 30, 60).split()
    rows = frame(
        [
            {"example_id": "12", "positive": "Note: " + " ".join(words[:12]) + " and so on."},
            {"example_id": "13", "positive": "Note: " + " ".join(words[:13]) + " and so on."},
        ]
    )
    assert find_contaminated(rows, index)["example_id"].to_list() == ["13", "13"]


def test_very_short_evaluation_texts_are_not_indexed():
    index = build_index([("mteb:Tiny", "Jesus wept."), ("mteb:Tiny", "one two three four five six seven eight")])
    rows = frame(
        [
            {"example_id": "a", "positive": "And Jesus wept. Then he spoke."},
            {"example_id": "b", "positive": "Count: one two three four five six seven eight, done."},
        ]
    )
    assert index.skipped_short == 1
    assert find_contaminated(rows, index)["example_id"].to_list() == ["b"]


def test_chinese_evaluation_text_found_by_characters(index):
    rows = frame(
        [
            {
                "example_id": "whole",
                "language": "zh",
                "positive": "据报道，" + CHINESE_EVAL + "专家表示这一趋势还会继续。",
            },
            {"example_id": "part", "language": "zh", "positive": "据报道，" + CHINESE_EVAL[:30] + "专家表示。"},
        ]
    )
    assert find_contaminated(rows, index).rows() == [("whole", "contaminated", "positive", "file:/eval/zh.txt")]


def test_clean_rows_are_not_flagged(index, lee_background):
    rows = frame([{"example_id": f"{i}", "query": doc[:80], "positive": doc} for i, doc in enumerate(lee_background)])
    assert find_contaminated(rows, index).is_empty()


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".parquet"])
def test_evaluation_texts_from_file(tmp_path, suffix):
    texts = ["first evaluation text", "second evaluation text"]
    path = tmp_path / f"eval{suffix}"
    if suffix == ".txt":
        path.write_text("\n".join([texts[0], "", texts[1]]) + "\n", encoding="utf-8")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    else:
        pl.DataFrame({"text": texts}).write_parquet(path)
    assert list(evaluation_texts_from_file(path)) == [(f"file:{path}", t) for t in texts]


def test_evaluation_texts_from_file_rejects_other_formats(tmp_path):
    with pytest.raises(ValueError, match=r"\.txt, \.jsonl or \.parquet"):
        list(evaluation_texts_from_file(tmp_path / "eval.csv"))


def test_offline_suite_texts_cover_every_task(verses):
    texts = list(offline_suite_texts(bible_samples=20))
    by_source: dict[str, set[str]] = {}
    for source, text in texts:
        by_source.setdefault(source, set()).add(text)
    assert {name: len(t) for name, t in by_source.items()} == {
        "offline:BibleBitextMining": 40,
        "offline:BibleRetrievalEnEs": 40,
        "offline:BibleRetrievalEsEn": 40,
        "offline:LeeDocumentSimilarity": 50,
        "offline:BBCNewsClassification": 2127,
        "offline:BBCNewsClustering": 2127,
    }
    assert load_lee().documents[0] in by_source["offline:LeeDocumentSimilarity"]
    assert len(texts) == sum(len(t) for t in by_source.values())  # each text once per task


def test_offline_suite_texts_without_the_bible_export_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHEMBED_CACHE", str(tmp_path))
    monkeypatch.setattr(bible.shutil, "which", lambda name: None)  # no mod2imp either
    monkeypatch.setattr(bible, "load_bible_pairs", bible.load_bible_pairs.__wrapped__)  # past the lru_cache
    with pytest.raises(FileNotFoundError, match="infra/eval_data.sh"):
        next(offline_suite_texts())


def test_evaluation_texts_too_short_to_index_or_of_one_kind_only_do_not_crash():
    """Review: an index of only short texts, or only unspaced ones, raised IndexError."""
    import polars as _pl

    from tasks.clean.decontaminate import build_index, find_contaminated

    rows = _pl.DataFrame({"example_id": ["a"], "language": ["en"], "query": ["q"],
                          "positive": ["Jesus wept, and then the crowd went home."], "negative": [None]})
    assert find_contaminated(rows, build_index([("s", "Jesus wept.")])).is_empty()
    chinese = build_index([("zh", "我喜欢编程这是一个很好的爱好每天都写代码我喜欢编程这是一个很好的爱好每天都写代码")])
    assert find_contaminated(rows, chinese).is_empty()
