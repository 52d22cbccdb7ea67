"""The model card's Evaluation section: scores merged into ``{out}/model/README.md`` as evaluations run.

Training writes the card (:mod:`tasks.train.card`); every ``synthembed evaluate`` of a folder
training wrote (it has ``synthembed_train_config.json``) merges its scores into
``synthembed_evaluation.json`` beside the card (the latest score per task and model) and
renders the section again in place (:func:`record_evaluation`).

    record_evaluation("s3://bucket/models/m1/model", "fine-tuned", results, passkey)
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from tasks.common.cards import public_url
from tasks.common.report import markdown_table
from tasks.evaluate.suite import main_scores
from tasks.storage.store import Store, open_store
from tasks.train.card import CARD_FILE, EVALUATION_FILE, EVALUATION_HEADING, TRAIN_CONFIG_FILE

log = logging.getLogger(__name__)


def main_score_name(task_name: str) -> str:
    """The metric behind a task's main score (``ndcg_at_10``...), from its mteb metadata; "main_score" if unknown."""
    import mteb

    from tasks.benchmarks import mteb_tasks

    for name in mteb_tasks.__all__:
        task = getattr(mteb_tasks, name)
        if isinstance(task, type) and task.metadata.name == task_name:
            return task.metadata.main_score
    try:
        return mteb.get_task(task_name).metadata.main_score
    except (KeyError, ValueError):  # not a task mteb knows
        return "main_score"


def read_task_result(url: str) -> dict:
    """One mteb ``TaskResult`` JSON as :func:`tasks.evaluate.suite.save_results` files it, as a card entry.

    The score is mteb's ``TaskResult.get_score()``: the mean main score over splits and subsets.
    """
    from mteb import TaskResult

    folder, _, name = url.rpartition("/")
    store = open_store(folder)
    result = store.read_json(store.path(name))
    if result is None:
        raise FileNotFoundError(f"no mteb result at {public_url(url)}")
    date = datetime.fromtimestamp(result["date"], UTC).strftime("%Y-%m-%d") if result.get("date") else ""
    score = main_scores([TaskResult.from_dict(result)])[result["task_name"]]  # mteb's own mean over splits
    return {"metric": main_score_name(result["task_name"]), "score": round(score, 4),
            "mteb_version": result.get("mteb_version", ""), "evaluated": date, "result": public_url(url),
            "task": result["task_name"]}


def render_evaluation(record: dict, label: str) -> str:
    """The Evaluation section from the merged record (``tasks``, ``compared``, ``passkey``)."""
    others = [m for m in record.get("compared", {}) if m != label]
    rows = [{"task": task, "metric": entry["metric"], f"{label} (this model)": entry["score"],
             **{m: record["compared"][m].get(task, "") for m in others}, "evaluated": entry["evaluated"]}
            for task, entry in record.get("tasks", {}).items()]
    folders = sorted({entry["result"].rpartition("/")[0] for entry in record.get("tasks", {}).values()})
    versions = sorted({entry["mteb_version"] for entry in record.get("tasks", {}).values()})
    parts = [EVALUATION_HEADING,
             (f"Main scores from `synthembed evaluate` (mteb {', '.join(versions)}; queries with a per-task "
              "instruction, documents bare). The other columns are the models scored in the same evaluation(s): "
              "the untrained base model and baselines when `--baselines` was given."),
             markdown_table(rows),
             "Results in mteb's format: " + ", ".join(f"`{folder}/`" for folder in folders) + "."]
    passkey = record.get("passkey") or {}
    if passkey:
        lengths = sorted({int(n) for by_length in passkey.values() for n in by_length})
        parts += ["### Passkey retrieval (top-1 accuracy by context length in tokens)",
                  markdown_table([{"model": m, **{str(n): by_length.get(str(n), "") for n in lengths}}
                                  for m, by_length in passkey.items()])]
    return "\n\n".join(parts)


def replace_section(card: str, heading: str, body: str) -> str:
    """``card`` with the section under ``heading`` (up to the next ``## `` heading) replaced by ``body``.

    >>> replace_section("# T\\n\\n## A\\n\\nold\\n\\n## B\\n", "## A", "## A\\n\\nnew")
    '# T\\n\\n## A\\n\\nnew\\n\\n## B\\n'
    >>> replace_section("# T\\n", "## A", "## A\\n\\nnew")  # absent: appended
    '# T\\n\\n## A\\n\\nnew\\n'
    """
    match = re.search(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", card, flags=re.DOTALL | re.MULTILINE)
    if not match:
        return card.rstrip("\n") + "\n\n" + body + "\n"
    rest = card[match.end():]
    return card[:match.start()] + body + ("\n\n" + rest if rest else "\n")


def _read_text(store: Store, name: str) -> str | None:
    try:
        return store.fs.cat_file(store.path(name)).decode()
    except FileNotFoundError:
        return None


def record_evaluation(model_url: str, label: str, results: list[dict], passkey: dict[str, list[dict]] | None = None) -> bool:
    """Merge one evaluation into the model card at ``model_url``; True if the card was updated.

    Only a folder training wrote (it has ``synthembed_train_config.json``) is touched; a card
    that cannot be written (read-only store) is logged and skipped: the results are filed already.

    Args:
        model_url: the exported folder as given to the evaluation (not a local cache copy of it).
        label: the model's label among ``results``.
        results: the evaluate flow's results, one per model: ``{"label", "scores", "results"}``,
            ``results`` being the URLs of its mteb result JSON files.
        passkey: label -> passkey rows (``length``, ``accuracy``) when the passkey test ran.
    """
    store = open_store(model_url)
    if not store.exists(store.path(TRAIN_CONFIG_FILE)):
        return False  # not trained by synthembed: someone else's folder
    own = next((r for r in results if r["label"] == label), None)
    if own is None:
        raise ValueError(f"no results for {label!r} among {', '.join(r['label'] for r in results)}")
    record = store.read_json(store.path(EVALUATION_FILE)) or {}
    tasks, compared, by_length = record.get("tasks", {}), record.get("compared", {}), record.get("passkey", {})
    for url in own["results"]:
        entry = read_task_result(url)
        tasks[entry["task"]] = entry
    for result in results:
        compared.setdefault(result["label"], {}).update({t: round(s, 4) for t, s in result["scores"].items()})
    for other, rows in (passkey or {}).items():
        by_length.setdefault(other, {}).update({str(r["length"]): round(r["accuracy"], 4) for r in rows})
    record = {"tasks": tasks, "compared": compared, "passkey": by_length}
    card = replace_section(_read_text(store, CARD_FILE) or f"# {label}\n", EVALUATION_HEADING,
                           render_evaluation(record, label))
    try:
        store.write_json(store.path(EVALUATION_FILE), record)
        store.write_bytes(store.path(CARD_FILE), card.encode())
    except OSError as exc:  # PermissionError included: a folder we may read but not write
        log.warning("model card at %s not updated: %s", public_url(model_url), exc)
        return False
    return True
