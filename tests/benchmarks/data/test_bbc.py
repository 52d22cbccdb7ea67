"""BBC News: 2,225 articles in 5 sections, 98 exact copies, seeded stratified samples and splits."""

from __future__ import annotations

from collections import Counter

import pytest

from tasks.benchmarks.data.bbc import BBC_LABELS, load_bbc_news, stratified_sample, stratified_split


def test_2225_articles_in_five_sections():
    articles = load_bbc_news()
    assert len(articles) == 2225
    assert Counter(a.label for a in articles) == {
        "business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401,
    }
    assert set(a.label for a in articles) == set(BBC_LABELS)
    assert articles[0].text.startswith("Ad sales boost Time Warner profit\n\n")
    assert any("£15.8m signing from Parma" in a.text for a in articles)  # the one Latin-1 file


def test_deduplicated_corpus_has_each_text_once():
    articles = load_bbc_news(deduplicate=True)
    assert len(articles) == len({a.text for a in articles}) == 2127


def test_stratified_sample_takes_per_label_articles_with_a_seed():
    articles = load_bbc_news(deduplicate=True)
    sample = stratified_sample(articles, 20, seed=3)
    assert Counter(a.label for a in sample) == {label: 20 for label in BBC_LABELS}
    assert sample == stratified_sample(articles, 20, seed=3) != stratified_sample(articles, 20, seed=4)


@pytest.mark.parametrize("test_fraction", [0.5, 0.2])
def test_stratified_split_is_disjoint_proportional_and_seeded(test_fraction):
    articles = load_bbc_news(deduplicate=True)
    train, test = stratified_split(articles, test_fraction, seed=0)
    assert len(train) + len(test) == len(articles)
    assert not {a.text for a in train} & {a.text for a in test}
    totals, in_test = Counter(a.label for a in articles), Counter(a.label for a in test)
    assert all(abs(in_test[label] - totals[label] * test_fraction) <= 1 for label in BBC_LABELS)
    assert (train, test) == stratified_split(articles, test_fraction, seed=0)
    assert test != stratified_split(articles, test_fraction, seed=1)[1]
