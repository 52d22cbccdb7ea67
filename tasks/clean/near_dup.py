"""Near-duplicate rows of a whole run: same query or same document, give or take a few edits.

An LLM asked thousands of times for "a retrieval example about a long-tail topic" repeats
itself: the same question with other punctuation, the same document with a sentence added.
Duplicates waste the training budget and, in a contrastive batch, make a positive look like a
negative of its twin. This module finds them; dropping the rows is up to the caller.

How rows are compared:

* **Two passes**, first on ``query`` (reason ``near_duplicate_query``), then on ``positive``
  (``near_duplicate_document``) among the rows the first pass kept, each only *within* one
  ``task_type`` and ``language`` (a retrieval query never duplicates a bitext sentence).
  Classification rows have no document pass: their "positive" is a label, shared by design.
  Negatives are not compared (a hard negative may serve several queries).
* **Exact match first**: texts equal after normalisation (NFKC, casefold, punctuation and
  whitespace removed: :mod:`tasks.clean.text_ngrams`) are duplicates whatever their length.
* **Then shingles**, chosen per text (see :func:`shingle_views`): word 3-grams for texts of
  :data:`LONG_WORDS` words or more; character 5-grams (spaces kept) for shorter ones, where one
  changed word would destroy most word 3-grams; texts in between get both, each compared only
  with texts shingled the same way (a pair of texts more than twice apart in length cannot
  reach the thresholds anyway). Chinese/Japanese are cut into character 3-grams, Thai, Lao,
  Khmer and Burmese into 5-grams (~1 word): by language, or by script when the text's letters
  are mostly of those scripts (a bitext row's second sentence).
* **Keep first**: rows are visited in ``example_id`` order; a row is a duplicate of the most
  similar earlier *kept* row whose exact shingle Jaccard reaches the threshold
  (:mod:`tasks.clean.minhash_lsh`). Same input, same output.

Defaults, from the exact Jaccard of 300 random edits of each kind to sentences and stories of
gensim's Lee news corpus (median / 10th percentile):

* queries, 0.8. Under character 5-grams a 12-25 word query with one word inserted scores
  0.91 / 0.84, with one word substituted 0.82 / 0.74; a 5-10 word query 0.78 / 0.64 and
  0.63 / 0.45; an unrelated one 0.01. So 0.8 catches case, punctuation and small insertions,
  while swapping the one slot a template varies ("benefits of green tea" / "of black coffee")
  leaves two distinct queries.
* documents, 0.7. Under word 3-grams a six-sentence story with three words changed scores
  0.88 / 0.85, with a sentence added 0.86 / 0.79, with one removed 0.83 / 0.75 (three-sentence
  documents: 0.76 / 0.62 for an added sentence); the next story on the same topic 0.00 (90th
  percentile 0.01).

>>> rows = pl.DataFrame({
...     "example_id": ["a", "b", "c"], "task_type": ["sts"] * 3, "language": ["en"] * 3,
...     "task": ["t"] * 3, "negative": [None] * 3,
...     "query": ["How do I reset my router?", "how do i reset my router", "Best pizza in Naples?"],
...     "positive": ["one", "two", "three"]})
>>> find_near_duplicates(rows).rows()
[('b', 'near_duplicate_query', 'a')]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from tasks.clean.minhash_lsh import DEFAULT_LIBRARY, DEFAULT_NUM_PERM, Library, greedy_duplicates
from tasks.clean.text_ngrams import ngram_hashes, normalized, row_slices, tokens, unspaced_mask

QUERY_THRESHOLD = 0.8
DOCUMENT_THRESHOLD = 0.7
WORD_N = 3  # word shingle width for texts of LONG_WORDS words or more
CHAR_N = 5  # character shingles for shorter spaced texts, and for Thai, Lao, Khmer, Burmese
CJK_N = 3  # Chinese and Japanese: a character is about a morpheme, 3 make a word or two
LONG_WORDS = 20  # from here on: word shingles...
SHORT_WORDS = 40  # ...below this: character shingles (both in between)
CJK_LANGUAGES = ("zh", "ja")
CJK_SCRIPT = r"[\p{Han}\p{Hiragana}\p{Katakana}]"
REQUIRED = ("example_id", "task_type", "language", "query", "positive")
CHUNK_ROWS = 4096  # texts shingled at once: bounds the temporary arrays of one step

View = list[np.ndarray | None]


def _shingles(texts: pl.Series, tokenization: str, n: int, keep_spaces: bool = False) -> View:
    out: View = []
    for start in range(0, len(texts), CHUNK_ROWS):
        toks = tokens(texts.slice(start, CHUNK_ROWS), tokenization, keep_spaces=keep_spaces, normalize=False)
        out += row_slices(ngram_hashes(toks, n))
    return out


def shingle_views(texts: pl.Series, languages: pl.Series | None = None, normalize: bool = True) -> list[View]:
    """Each text's shingle hashes (one per window, repeats included) in each shingle space it
    belongs to (None where it does not).

    Spaces: CJK character 3-grams, other unspaced-script character 5-grams, spaced-text
    character 5-grams (texts under :data:`SHORT_WORDS` words), word 3-grams (:data:`LONG_WORDS`
    words or more). Null texts belong to none. ``normalize=False``: the texts are normalised already.

    >>> views = shingle_views(pl.Series(["一个简单的例子", "a short text", None]), pl.Series(["zh", "en", "en"]))
    >>> [[v is not None for v in view] for view in views]
    [[True, False, False], [False, False, False], [False, True, False], [False, False, False]]
    """
    n = len(texts)
    present = texts.is_not_null().to_numpy()
    if normalize:  # script counts are unchanged by it
        texts = pl.select(normalized(pl.lit(texts))).to_series()
    unspaced = unspaced_mask(texts, languages) & present
    cjk_letters = pl.DataFrame({"t": texts.fill_null("")}).select(
        cjk=pl.col("t").str.count_matches(CJK_SCRIPT), letters=pl.col("t").str.count_matches(r"\p{L}")
    )
    cjk = (cjk_letters["cjk"] * 2 >= cjk_letters["letters"]).to_numpy() & (cjk_letters["cjk"] > 0).to_numpy()
    if languages is not None:
        cjk = cjk | languages.is_in(list(CJK_LANGUAGES)).to_numpy()
    cjk &= unspaced
    spaced = present & ~unspaced
    words = np.zeros(n, dtype=np.int64)
    words[spaced] = tokens(texts.filter(pl.Series(spaced)), "word", normalize=False).lengths
    masks_and_specs = [
        (cjk, ("char", CJK_N, False)),
        (unspaced & ~cjk, ("char", CHAR_N, False)),
        (spaced & (words < SHORT_WORDS), ("char", CHAR_N, True)),
        (spaced & (words >= LONG_WORDS), ("word", WORD_N, False)),
    ]
    views: list[View] = []
    for mask, (tokenization, width, keep_spaces) in masks_and_specs:
        view: View = [None] * n
        where = np.flatnonzero(mask)
        for i, shingles in zip(where, _shingles(texts.filter(pl.Series(mask)), tokenization, width, keep_spaces)):
            view[i] = shingles
        views.append(view)
    return views


def duplicates_in(
    texts: pl.Series,
    languages: pl.Series | None,
    threshold: float,
    num_perm: int = DEFAULT_NUM_PERM,
    library: Library = DEFAULT_LIBRARY,
) -> np.ndarray:
    """Keep-first duplicates among texts already in priority order: index of the kept text each
    duplicates, -1 for kept texts (and for null ones, which are never compared)."""
    texts = pl.select(normalized(pl.lit(texts))).to_series()  # once, for the exact keys and the shingles
    frame = (
        pl.DataFrame({"text": texts})
        .with_row_index("i")
        .with_columns(key=pl.when(pl.col("text").is_not_null()).then(pl.col("text").hash(seed=0)))
    )
    first = frame.drop_nulls("key").group_by("key").agg(first=pl.col("i").min())
    exact_of = frame.join(first, on="key", how="left").sort("i")["first"].fill_null(-1).to_numpy().astype(np.int64)
    distinct = np.flatnonzero(exact_of == np.arange(len(texts)))
    views = shingle_views(texts[distinct], None if languages is None else languages[distinct], normalize=False)
    near = greedy_duplicates(views, threshold, num_perm, library)
    result = np.full(len(texts), -1, dtype=np.int64)
    result[distinct] = np.where(near >= 0, distinct[np.maximum(near, 0)], -1)
    copies = np.flatnonzero((exact_of >= 0) & (exact_of != np.arange(len(texts))))
    # An exact copy points at its first occurrence, or past it when that one was itself a near-duplicate.
    targets = exact_of[copies]
    result[copies] = np.where(result[targets] >= 0, result[targets], targets)
    return result


def _check_columns(frame: pl.DataFrame, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}; has {frame.columns}")


def find_near_duplicates(
    frame: pl.DataFrame,
    query_threshold: float = QUERY_THRESHOLD,
    document_threshold: float = DOCUMENT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    library: Library = DEFAULT_LIBRARY,
) -> pl.DataFrame:
    """The rows to drop: ``example_id``, ``reason`` and ``duplicate_of`` (a kept row's id).

    Args:
        frame: generated rows with columns ``example_id``, ``task_type``, ``language``,
            ``query``, ``positive`` (others are ignored).
        query_threshold / document_threshold: exact shingle Jaccard that makes two queries /
            two documents duplicates (see the module docstring for the defaults).
        num_perm: MinHash signature budget per text.
        library: MinHash LSH implementation proposing candidates ("rensa" or "datasketch").

    Returned in ``example_id`` order; rows not listed are kept. ``duplicate_of`` is always a
    kept row: a query duplicate of a row that the document pass drops points to the row that
    one duplicates.
    """
    _check_columns(frame, REQUIRED)
    rows = frame.select(REQUIRED).sort("example_id", maintain_order=True)
    dropped: list[pl.DataFrame] = []
    passes = (
        ("query", query_threshold, "near_duplicate_query"),
        ("positive", document_threshold, "near_duplicate_document"),
    )
    for column, threshold, reason in passes:
        if column == "positive":
            rows = rows.filter(pl.col("task_type") != "classification")  # its positive is a label
        found = []
        for group in rows.partition_by(["task_type", "language"], maintain_order=True):
            # a bitext row's sides are in two languages: let each text's script choose its shingles
            languages = None if group["task_type"][0] == "bitext" else group["language"]
            of = duplicates_in(group[column], languages, threshold, num_perm, library)
            hit = np.flatnonzero(of >= 0)
            ids = group["example_id"]
            found.append(pl.DataFrame({"example_id": ids[hit], "duplicate_of": ids[of[hit]]}))
        pass_dropped = (
            pl.concat(found) if found else pl.DataFrame(schema={"example_id": pl.String, "duplicate_of": pl.String})
        )
        dropped.append(pass_dropped.with_columns(reason=pl.lit(reason)).select("example_id", "reason", "duplicate_of"))
        rows = rows.join(pass_dropped, on="example_id", how="anti", maintain_order="left")
    # A query duplicate of a row that the document pass then drops points on to the row kept in its stead.
    queries, documents = dropped
    moved = documents.select(duplicate_of="example_id", kept="duplicate_of")
    queries = queries.join(moved, on="duplicate_of", how="left").select(
        "example_id", "reason", duplicate_of=pl.coalesce("kept", "duplicate_of")
    )
    return pl.concat([queries, documents]).sort("example_id")
