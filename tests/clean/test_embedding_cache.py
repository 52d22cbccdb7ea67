"""The teacher's vectors live in the run: a rerun of ``synthembed clean`` embeds nothing twice, an
interrupted one keeps the chunks it finished, and another teacher or role is another input."""

from __future__ import annotations

import numpy as np
import pytest

from flows.cli import main
from tasks.clean import teacher as teacher_module
from tasks.clean.embedding_cache import RunVectors
from tasks.runs.manifest import load_manifest
from tasks.storage.store import open_store
from tests.clean.teachers import CountingTeacher, WordTeacher
from tests.support.runs import row, write_run

TOPICS = ["solar panels on the roof", "wind turbines at sea", "hydro power from rivers", "geothermal heat pumps",
          "tidal energy barrages", "biomass power stations"]


def test_a_second_clean_embeds_nothing(tmp_path, monkeypatch, capsys):
    # Given a run, and a teacher that counts what it is asked to embed
    counting = CountingTeacher(WordTeacher())
    monkeypatch.setattr(teacher_module, "load_teacher", lambda spec, threads=None: counting)
    store_url = f"file://{tmp_path}/store"
    write_run(store_url, "r1", [row(i, task_type="short_short", query=f"question about {t}",
                                    positive=f"an answer on {t}", negative=None) for i, t in enumerate(TOPICS)])
    # When it is cleaned twice (meaning checks and mining, decontamination off)
    argv = ["clean", "--run-id", "r1", "--store", store_url, "--decontaminate", "off"]
    assert main(argv) == 0
    first = counting.texts
    assert main(argv) == 0
    # Then the first clean embedded each distinct text once, the second none
    assert first == 2 * len(TOPICS)
    assert counting.texts == first
    filters = load_manifest(open_store(store_url), "r1").filters
    assert filters["meaning"].details["texts_embedded"] == 0 and filters["mined_negatives"].details["texts_embedded"] == 0
    assert "mined_negatives" in capsys.readouterr().out


class _FailsOnSecondCall(WordTeacher):
    calls = 0

    def embed(self, texts, role):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("teacher went away")
        return super().embed(texts, role)


def test_an_interrupted_embedding_keeps_the_chunks_it_finished(tmp_path):
    store = open_store(f"file://{tmp_path}/store")
    texts = [f"text number {i} about {t}" for i, t in enumerate(TOPICS)]
    with pytest.raises(RuntimeError):
        RunVectors(store, "r1", _FailsOnSecondCall(), chunk=2).of(texts, "query")
    counting = CountingTeacher(WordTeacher())
    vectors = RunVectors(store, "r1", counting, chunk=2).of(texts, "query")
    assert counting.texts == len(texts) - 2  # the first chunk was written before the failure
    assert np.allclose(vectors, WordTeacher().embed(texts, "query"))


def test_repeats_roles_and_teachers_are_keyed_by_what_the_model_embeds(tmp_path):
    class Prefixed(CountingTeacher):
        def model_input(self, text, role):
            return f"{role}: {text}"

    store = open_store(f"file://{tmp_path}/store")
    prefixed = Prefixed(WordTeacher())
    vectors = RunVectors(store, "r1", prefixed)
    vectors.of(["a text", "a text", "another"], "query")
    assert prefixed.texts == 2  # a repeat is embedded once
    vectors.of(["a text"], "passage")
    assert prefixed.texts == 3  # another role is another model input
    other = CountingTeacher(WordTeacher())
    other.key = "another-model"
    RunVectors(store, "r1", other).of(["a text"], "query")
    assert other.texts == 1  # another teacher has its own folder
    assert sorted(p.name for p in (tmp_path / "store/runs/r1/embeddings").iterdir()) == ["another-model", "words-test"]
