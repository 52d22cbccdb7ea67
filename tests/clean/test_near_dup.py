"""Near-duplicate removal: what must be caught, what must survive, and keep-first determinism."""

from __future__ import annotations

import random

import polars as pl
import pytest

from tasks.clean.minhash_lsh import greedy_duplicates, jaccard, lsh_params
from tasks.clean.near_dup import find_near_duplicates
from tasks.clean.task_diversity import task_diversity_summary, task_duplicate_groups
from tests.support.clean_frames import frame, sentences

CHINESE = (
    "北京是中国的首都，也是一座历史悠久的城市。每年都有数百万游客来参观故宫和长城。"
    "这里的冬天又冷又干燥，但是夏天非常炎热。地铁网络覆盖了城市的大部分地区，出行很方便。"
)
THAI = (
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทยและเป็นเมืองที่ใหญ่ที่สุดในประเทศ "
    "นักท่องเที่ยวจำนวนมากมาเที่ยวชมวัดพระแก้วและพระบรมมหาราชวังทุกปี "
    "อากาศในเดือนเมษายนร้อนมาก แต่ในเดือนธันวาคมอากาศเย็นสบาย "
    "รถไฟฟ้าช่วยให้การเดินทางในเมืองสะดวกและรวดเร็วขึ้น"
)


def _replace_words(text: str, count: int, seed: int = 0) -> str:
    words = text.split()
    rng = random.Random(seed)
    for i in rng.sample(range(len(words)), count):
        words[i] = "zebra"
    return " ".join(words)


def _document_edits(lee_background: list[str]) -> dict[str, tuple[str, str]]:
    doc = " ".join(sentences(lee_background[3])[:6])  # six sentences of a news story
    other = sentences(lee_background[40])[0]
    return {
        "case and punctuation": (doc, doc.upper().replace(",", "").replace(".", " !")),
        "three words changed": (doc, _replace_words(doc, 3)),
        "one sentence added": (doc, doc + " " + other),
        "last sentence dropped": (doc, " ".join(sentences(doc)[:-1])),
    }


@pytest.mark.parametrize(
    "edit", ["case and punctuation", "three words changed", "one sentence added", "last sentence dropped"]
)
def test_paraphrase_level_document_edits_are_caught(lee_background, edit):
    original, edited = _document_edits(lee_background)[edit]
    rows = frame([{"example_id": "a", "positive": original}, {"example_id": "b", "positive": edited}])
    assert find_near_duplicates(rows).rows() == [("b", "near_duplicate_document", "a")]


@pytest.mark.parametrize(
    "original, edited",
    [
        (
            "What were the main causes of the bushfires near Sydney?",
            "what were the main causes of the bushfires near sydney",
        ),
        (
            "How did the interim President of Argentina react to the debt crisis last week?",
            "How did the interim President of Argentina react to the debt crisis of last week?",
        ),
        (
            "Which airline cut the most domestic flights after the collapse of Ansett in 2001?",
            "Which airline cut the most domestic flights after the collapse of Ansett in 2001",
        ),
    ],
)
def test_query_edits_are_caught(original, edited):
    rows = frame([{"example_id": "a", "query": original}, {"example_id": "b", "query": edited}])
    assert find_near_duplicates(rows).rows() == [("b", "near_duplicate_query", "a")]


def test_distinct_texts_of_one_template_or_topic_survive(lee_background):
    # Given queries that differ in the one slot a template varies, and news stories on one topic
    queries = [
        "What are the health benefits of green tea?",
        "What are the health benefits of black coffee?",
        "How do I reset my password on an iPhone?",
        "How do I reset my password on a Samsung Galaxy?",
        "Best hiking trails near Denver for beginners",
        "Best hiking trails near Seattle for families",
    ]
    bushfires = [lee_background[i] for i in (0, 9, 33)]
    taliban = [lee_background[i] for i in (5, 35, 50)]
    documents = bushfires + taliban
    rows = frame([{"example_id": f"{i:02d}", "query": q, "positive": documents[i]} for i, q in enumerate(queries)])
    # Then nothing is a duplicate
    assert find_near_duplicates(rows).is_empty()


def test_chinese_and_thai_near_duplicates_are_caught():
    chinese_edit = CHINESE.replace("，", ",").replace("数百万", "几百万") + "很多人喜欢在秋天来北京旅游。"
    thai_edit = THAI.replace("มาก", "มากๆ") + " ร้านอาหารริมทางก็อร่อย"
    rows = frame(
        [
            {"example_id": "1", "language": "zh", "positive": CHINESE},
            {"example_id": "2", "language": "zh", "positive": chinese_edit},
            {
                "example_id": "3",
                "language": "zh",
                "positive": "上海是中国最大的城市之一，以金融和贸易闻名。外滩的夜景吸引了很多游客。",
            },
            {"example_id": "4", "language": "th", "positive": THAI},
            {"example_id": "5", "language": "th", "positive": thai_edit},
            {
                "example_id": "6",
                "language": "th",
                "positive": "เชียงใหม่เป็นเมืองใหญ่ทางภาคเหนือของประเทศไทย มีภูเขาและอากาศเย็นสบาย",
            },
        ]
    )
    assert find_near_duplicates(rows).rows() == [
        ("2", "near_duplicate_document", "1"),
        ("5", "near_duplicate_document", "4"),
    ]


def test_rows_are_compared_only_within_task_type_and_language():
    text = "Given a sentence in English, find its translation."
    rows = frame(
        [
            {"example_id": "1", "task_type": "retrieval", "query": text},
            {"example_id": "2", "task_type": "bitext", "query": text},
            {"example_id": "3", "task_type": "retrieval", "language": "de", "query": text},
            {"example_id": "4", "task_type": "retrieval", "query": text.upper()},
        ]
    )
    assert find_near_duplicates(rows).rows() == [("4", "near_duplicate_query", "1")]


def test_classification_labels_are_not_documents():
    rows = frame(
        [
            {
                "example_id": "1",
                "task_type": "classification",
                "query": "The match ended in a draw.",
                "positive": "sports",
            },
            {
                "example_id": "2",
                "task_type": "classification",
                "query": "Parliament passed the budget.",
                "positive": "sports",
            },
        ]
    )
    assert find_near_duplicates(rows).is_empty()


def test_first_row_in_example_id_order_is_kept_whatever_the_input_order(lee_background):
    # Given three copies of a document with small edits, and unrelated rows, in shuffled order
    doc = " ".join(sentences(lee_background[7])[:5])
    copies = [doc, doc.lower(), _replace_words(doc, 2)]
    rows = frame(
        [{"example_id": f"c{i}", "positive": text} for i, text in enumerate(copies)]
        + [{"example_id": f"u{i}", "positive": d} for i, d in enumerate(lee_background[160:200])]
    )  # no near-duplicate stories there
    shuffled = rows.sample(fraction=1.0, shuffle=True, seed=3)
    # When the same rows are deduplicated in two orders
    first, second = find_near_duplicates(rows), find_near_duplicates(shuffled)
    # Then the results are identical and the smallest example_id survives
    assert first.equals(second)
    assert first.rows() == [("c1", "near_duplicate_document", "c0"), ("c2", "near_duplicate_document", "c0")]


def test_duplicate_of_always_names_a_kept_row(lee_background):
    # Row b duplicates a's query; a's document duplicates z's (z sorts first), so the document pass drops a
    doc = lee_background[20]
    rows = frame(
        [
            {"example_id": "0z", "query": "Who won the cricket Test in Adelaide?", "positive": doc},
            {"example_id": "a", "query": "Why did Qantas cut flights to Asia?", "positive": doc.lower()},
            {"example_id": "b", "query": "why did qantas cut flights to asia", "positive": lee_background[21]},
        ]
    )
    dropped = find_near_duplicates(rows)
    assert dropped.rows() == [("a", "near_duplicate_document", "0z"), ("b", "near_duplicate_query", "0z")]
    assert not set(dropped["duplicate_of"]) & set(dropped["example_id"])


def test_rensa_and_datasketch_agree(lee_background):
    pytest.importorskip("datasketch")
    docs = (
        lee_background[:60]
        + [d.lower() for d in lee_background[:10]]
        + [_replace_words(d, 3) for d in lee_background[10:20]]
    )
    rows = frame([{"example_id": f"{i:03d}", "positive": d} for i, d in enumerate(docs)])
    assert find_near_duplicates(rows, library="rensa").equals(find_near_duplicates(rows, library="datasketch"))
    assert len(find_near_duplicates(rows)) == 20


def test_lsh_bands_propose_pairs_at_the_threshold():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = lsh_params(threshold, 128)
        assert bands * rows <= 128
        assert 1 - (1 - threshold**rows) ** bands >= 0.95


def test_greedy_duplicates_verifies_candidates_exactly():
    # Jaccard 4/6 = 0.67: a duplicate at 0.6, not at 0.7, whatever MinHash estimated
    a, b = (
        pl.Series([1, 2, 3, 4, 5], dtype=pl.UInt64).to_numpy(),
        pl.Series([1, 2, 3, 4, 6], dtype=pl.UInt64).to_numpy(),
    )
    assert jaccard(a, b) == pytest.approx(4 / 6)
    assert greedy_duplicates([[a, b]], threshold=0.6).tolist() == [-1, 0]
    assert greedy_duplicates([[a, b]], threshold=0.7).tolist() == [-1, -1]


def test_task_definitions_grouped_across_languages():
    rows = frame(
        [
            {
                "example_id": "1",
                "language": "en",
                "task": "Given a medical question, retrieve passages from clinical guidelines that answer it.",
            },
            {
                "example_id": "2",
                "language": "de",
                "task": "Given a medical question, retrieve passages of clinical guidelines that answer it.",
            },
            {
                "example_id": "3",
                "language": "fr",
                "task": "Given a product name, find customer reviews that mention its battery life.",
            },
            {
                "example_id": "4",
                "language": "fr",
                "task": "Given a medical question, retrieve passages from clinical guidelines that answer it.",
            },
            {"example_id": "5", "task_type": "sts", "task": "Retrieve semantically similar text."},
        ]
    )
    groups = task_duplicate_groups(rows)
    assert groups.filter(pl.col("task") != pl.col("representative"))["task"].to_list() == [rows["task"][1]]
    assert groups.filter(pl.col("task") == rows["task"][0])[["rows", "languages"]].rows() == [(2, 2)]
    assert task_diversity_summary(groups).rows() == [("retrieval", 3, 2, 1)]  # sts has a fixed task: not counted


def test_updated_versions_of_a_news_story_are_found_in_the_lee_corpus(lee_background):
    # lee_background.cor holds a few stories twice: a later bulletin's rewrite of the same report
    rows = frame([{"example_id": f"{i:03d}", "positive": d} for i, d in enumerate(lee_background)])
    dropped = find_near_duplicates(rows)
    assert dropped.rows()[:2] == [("112", "near_duplicate_document", "104"), ("119", "near_duplicate_document", "115")]
    assert len(dropped) == 8  # of 300 documents
