"""A teacher's vectors kept in the run: each distinct model input embedded once, ever.

The meaning checks and the mining embed every query, positive and negative of a run; at 500k
rows that is hours of a CPU teacher (BENCHMARKS.md), and ``synthembed clean`` reruns them.
So every vector is written to the run's store as it is made, keyed by a hash of exactly what the
model embedded (prefix included: :meth:`Teacher.model_input`)::

    {store}/runs/{run_id}/embeddings/{teacher.key}/part-{timestamp}-{random}.parquet   # key: uint64, vector

A rerun reads them back and embeds only inputs never seen (none, if the rows did not change);
a run interrupted half-way keeps the chunks it finished. Another teacher is another folder.

    vectors = RunVectors(store, "r1", load_teacher("e5-small"))
    q = vectors.of(["how tall is Everest?"], "query")          # (1, 384), unit rows
    vectors.embedded                                            # inputs this object sent to the teacher
"""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import polars as pl

from tasks.clean.teacher import Role, Teacher
from tasks.storage.store import Store

CHUNK = 4096  # inputs embedded, then written, at a time: what an interruption can lose


def input_keys(inputs: Sequence[str]) -> np.ndarray:
    """A stable 64-bit hash (BLAKE2b) of each model input, as uint64: what the cache is keyed on.

    >>> input_keys(["query: a", "query: a", "passage: a"]).tolist()[0] == input_keys(["query: a"]).tolist()[0]
    True
    """
    return np.fromiter((int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")
                        for s in inputs), dtype=np.uint64, count=len(inputs))


class RunVectors:
    """The vectors of one teacher for one run, read from and added to ``{run}/embeddings/{teacher.key}/``.

    Args:
        store, run_id: where the run lives.
        teacher: the model (:func:`tasks.clean.teacher.load_teacher`).
        chunk: inputs per call to the teacher and per file written.
    """

    def __init__(self, store: Store, run_id: str, teacher: Teacher, chunk: int = CHUNK) -> None:
        self.store, self.teacher, self.chunk = store, teacher, chunk
        self.folder = store.path("runs", run_id, "embeddings", teacher.key)
        self.embedded = 0  # model inputs sent to the teacher by this object
        # Vectors in the order they arrived (grown by doubling: 1.3M x 384 at 500k rows, never copied per
        # chunk); keys sorted, each with its vector's row, so a lookup is one searchsorted.
        self._vectors: np.ndarray | None = None
        self._size = 0
        self._keys = np.zeros(0, dtype=np.uint64)
        self._rows = np.zeros(0, dtype=np.int64)
        self._load()

    def _load(self) -> None:
        frames = []
        for path in sorted(self.store.fs.glob(f"{self.folder}/*.parquet")):
            with self.store.fs.open(path, "rb") as f:
                frames.append(pl.read_parquet(f))
        if frames:
            frame = pl.concat(frames).unique("key", keep="first")
            self._add(frame["key"].to_numpy(), frame["vector"].to_numpy())

    def _add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Keep new (key, vector) pairs; the keys are not in the cache yet."""
        n, dim = vectors.shape
        if self._vectors is None:
            self._vectors = np.empty((max(n, 1024), dim), dtype=np.float32)
        elif self._size + n > len(self._vectors):
            grown = np.empty((max(2 * len(self._vectors), self._size + n), dim), dtype=np.float32)
            grown[: self._size] = self._vectors[: self._size]
            self._vectors = grown
        self._vectors[self._size : self._size + n] = vectors
        keys = np.concatenate([self._keys, keys.astype(np.uint64)])
        rows = np.concatenate([self._rows, np.arange(self._size, self._size + n)])
        order = np.argsort(keys, kind="stable")  # a radix sort for integers: linear
        self._keys, self._rows, self._size = keys[order], rows[order], self._size + n

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's vector row, or -1."""
        if not len(self._keys):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.searchsorted(self._keys, keys).clip(max=len(self._keys) - 1)
        return np.where(self._keys[at] == keys, self._rows[at], -1)

    def of(self, texts: Sequence[str] | pl.Series, role: Role) -> np.ndarray:
        """Unit vectors of ``texts`` on side ``role`` (float32, one row per text, repeats included)."""
        texts = list(texts)
        keys = input_keys([self.teacher.model_input(t, role) for t in texts])
        distinct, first = np.unique(keys, return_index=True)
        new = self._find(distinct) < 0
        missing, todo = distinct[new], [texts[i] for i in first[new]]
        made = [self._embed_and_write(missing[start:start + self.chunk], todo[start:start + self.chunk], role)
                for start in range(0, len(todo), self.chunk)]
        if made:  # kept once per call, not per chunk
            self._add(missing, np.concatenate(made))
        if not len(texts):
            return np.zeros((0, 0 if self._vectors is None else self._vectors.shape[1]), dtype=np.float32)
        return self._vectors[self._find(keys)]

    def _embed_and_write(self, keys: np.ndarray, texts: list[str], role: Role) -> np.ndarray:
        vectors = np.asarray(self.teacher.embed(texts, role), dtype=np.float32)
        self.embedded += len(texts)
        frame = pl.DataFrame({"key": pl.Series(keys, dtype=pl.UInt64),
                              "vector": pl.Series(vectors, dtype=pl.Array(pl.Float32, vectors.shape[1]))})
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd")
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        self.store.write_bytes(f"{self.folder}/part-{stamp}.parquet", buffer.getvalue())
        return vectors
