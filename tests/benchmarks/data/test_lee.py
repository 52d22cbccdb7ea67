"""The Lee corpus: 50 documents, a symmetric 50×50 matrix of human ratings, 1,225 rated pairs."""

from __future__ import annotations

from tasks.benchmarks.data.lee import load_lee, rated_pairs


def test_fifty_documents_and_a_symmetric_rating_matrix():
    corpus = load_lee()
    assert len(corpus.documents) == 50 and all(len(doc.split()) > 40 for doc in corpus.documents)
    assert corpus.documents[0].startswith("The national executive of the strife-torn Democrats")
    assert any("£" in doc for doc in corpus.documents)  # Latin-1 decoded
    ratings = corpus.ratings
    assert len(ratings) == 50 and all(len(row) == 50 for row in ratings)
    assert all(ratings[i][j] == ratings[j][i] for i in range(50) for j in range(50))
    assert all(ratings[i][i] == 1.0 for i in range(50))
    assert all(0.2 <= ratings[i][j] <= 1.0 for i in range(50) for j in range(50))


def test_rated_pairs_are_the_upper_triangle():
    corpus = load_lee()
    pairs = rated_pairs(corpus)
    assert len(pairs) == 50 * 49 // 2 == 1225
    assert all(i < j for i, j, _ in pairs)
    assert pairs[0] == (0, 1, corpus.ratings[0][1]) == (0, 1, 0.3)
