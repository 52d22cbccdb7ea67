"""Filters over a whole run's committed rows: near-duplicates, overlap with evaluation data, meaning
checks by a teacher embedder, optionally an LLM judge; then, for the rows they keep, optionally positives
relabeled by the LLM, and hard negatives mined.

Parts are generated and committed one by one, but a near-duplicate can sit in another part,
shard or retry, so the filters run over *all* committed rows at once, after the parts (at the
end of every synthesis or retry, and with ``synthembed clean``). Each writes its verdicts to
a new ``{run}/filters/{name}-{timestamp}.parquet`` and records itself in the manifest
(:class:`~tasks.runs.manifest.FilterEntry`: that file, counts by reason and by shard; see
:mod:`tasks.runs.verdicts`). The data files are never rewritten: readers
(:func:`tasks.runs.parts.scan_run`, training, ``synthembed export``) leave out the rows a
``drop`` filter lists, and a ``mark`` filter only reports. The mined negatives are an ``add``
entry: a file of ``example_id`` and ``negatives`` that readers may join (:mod:`tasks.clean.mining`);
the relabeled positives a ``replace`` entry that training applies (:mod:`tasks.clean.relabel`).

    manifest = clean_run(store, load_manifest(store, "r1"), CleanSettings(decontaminate="mark"))
    manifest.filters["near_duplicates"].counts   # {'near_duplicate_query': 12, 'near_duplicate_document': 3}
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from tasks.clean.asking import JUDGE, RELABEL
from tasks.clean.settings import CleanSettings
from tasks.llm.run_llm import RunLLM
from tasks.runs.manifest import FilterEntry, Manifest
from tasks.runs.schema import TRIPLE_COLUMNS
from tasks.runs.verdicts import replace_positives, write_verdicts
from tasks.storage.store import Store

NEAR_DUPLICATES, CONTAMINATION = "near_duplicates", "contamination"
MEANING, MINED_NEGATIVES = "meaning", "mined_negatives"


class EvaluationSourceMissing(ValueError):
    """An evaluation source the settings name cannot be read: said before any LLM call."""


def check_evaluation_sources(settings: CleanSettings) -> None:
    """Cheap checks of what decontamination will read (files exist, mteb names are known) and of the
    teacher, or EvaluationSourceMissing naming the source and the fix: before a run spends anything."""
    if settings.needs_teacher:
        from tasks.clean.teacher import check_teacher_reachable

        try:
            check_teacher_reachable(settings.teacher)
        except (OSError, ValueError) as error:
            raise EvaluationSourceMissing(f"--teacher {settings.teacher}: {error}") from None
    if settings.decontaminate == "off":
        return
    if settings.offline_suite:
        from tasks.benchmarks.data.bible import ensure_exports

        try:
            ensure_exports()
        except FileNotFoundError as error:
            raise EvaluationSourceMissing(f"the offline suite's Bible texts are not exported ({error}); "
                                          "or decontaminate without them: --no-offline-suite") from None
    for path in settings.evaluation_files:
        if not Path(path).is_file():
            raise EvaluationSourceMissing(f"evaluation texts {path!r} (--eval-texts) is not a readable file")
        if Path(path).suffix.lower() not in (".txt", ".jsonl", ".parquet"):
            raise EvaluationSourceMissing(f"evaluation texts {path!r}: use .txt (one text per line), .jsonl or .parquet "
                                          "(a 'text' field)")
    if settings.mteb_tasks:
        import mteb

        known = {task.metadata.name for task in mteb.get_tasks()}
        if unknown := [name for name in settings.mteb_tasks if name not in known]:
            raise EvaluationSourceMissing(f"unknown mteb task(s) {', '.join(unknown)} (--eval-mteb-tasks)")


def clean_run(store: Store, manifest: Manifest, settings: CleanSettings, llm: RunLLM | None = None) -> Manifest:
    """Run the filters over every committed row; the manifest with ``filters`` replaced (not yet saved).

    ``llm`` is the run's LLM and budget, which the judge and the relabeler ask (:mod:`tasks.clean.asking`);
    they run their own event loop, so call this from a thread without one (as :mod:`flows.clean` does).
    Raises FileNotFoundError when an evaluation source named by the settings cannot be read,
    before any verdict is written.
    """
    from tasks.clean.decontaminate import find_contaminated
    from tasks.clean.index_cache import cached_index
    from tasks.clean.near_dup import find_near_duplicates
    from tasks.clean.task_diversity import task_diversity_summary, task_duplicate_groups
    from tasks.runs.parts import scan_run

    if settings.needs_llm and llm is None:
        raise ValueError("--judge and --relabel ask the run's LLM, and none was given to the filters")
    rows = scan_run(store, manifest.run_id, manifest, filtered=False).select(TRIPLE_COLUMNS).collect()
    if rows.is_empty():  # nothing committed yet: no verdicts, no index to build
        return manifest.model_copy(update={"filters": {}})
    index = cached_index(settings) if settings.decontaminate != "off" else None
    filters: dict[str, FilterEntry] = {}
    dropped: list[pl.Series] = []  # example ids the drop filters leave out: never mined from
    if settings.near_duplicates:
        started = time.perf_counter()
        found = find_near_duplicates(rows, settings.query_threshold, settings.document_threshold)
        diversity = task_diversity_summary(task_duplicate_groups(rows))
        filters[NEAR_DUPLICATES] = write_verdicts(store, manifest, NEAR_DUPLICATES, found, rows, "drop", started,
                                          {"task_definitions": diversity.to_dicts()})
        dropped.append(found["example_id"])
    if index is not None and index.texts:  # no source at all (--no-offline-suite, no file): nothing to match
        started = time.perf_counter()
        found = find_contaminated(rows, index)
        by_source = dict(found.unique(["example_id", "source"]).group_by("source").len().sort("source").iter_rows())
        filters[CONTAMINATION] = write_verdicts(store, manifest, CONTAMINATION, found, rows, settings.decontaminate, started,
                                        {"evaluation_texts": index.texts, "too_short_to_index": index.skipped_short,
                                         "by_source": by_source})
        if settings.decontaminate == "drop":
            dropped.append(found["example_id"])
    if settings.needs_teacher or settings.needs_llm:
        filters.update(_meaning_filters(store, manifest, settings, rows, dropped, llm))
    return manifest.model_copy(update={"filters": filters})


def _without(rows: pl.DataFrame, dropped: list[pl.Series]) -> pl.DataFrame:
    return rows.filter(~pl.col("example_id").is_in(pl.concat(dropped))) if dropped else rows


def _meaning_filters(store: Store, manifest: Manifest, settings: CleanSettings, rows: pl.DataFrame,
                     dropped: list[pl.Series], llm: RunLLM | None) -> dict[str, FilterEntry]:
    """The meaning checks, the LLM judge, then over the rows every drop filter keeps the relabeling and the
    mining: one teacher, one cache."""
    from tasks.clean.embedding_cache import RunVectors
    from tasks.clean.meaning import find_inconsistent
    from tasks.clean.mining import mine_negatives, write_mined
    from tasks.clean.teacher import load_teacher

    vectors = RunVectors(store, manifest.run_id, load_teacher(settings.teacher)) if settings.needs_teacher else None
    filters: dict[str, FilterEntry] = {}
    details = {"teacher": vectors.teacher.key} if vectors else {}
    well_formed = _without(rows, dropped)  # what the judge reads: the teacher's rejects too, to compare the two
    teacher_rejected = None
    if settings.meaning != "off":
        started, before = time.perf_counter(), vectors.embedded
        found = find_inconsistent(rows, vectors, settings.meaning_top_k, settings.translation_threshold)
        filters[MEANING] = write_verdicts(store, manifest, MEANING, found, rows, settings.meaning, started, {
            **details, "top_k": settings.meaning_top_k, "translation_threshold": settings.translation_threshold,
            "texts_embedded": vectors.embedded - before})
        teacher_rejected = found["example_id"]
        if settings.meaning == "drop":
            dropped.append(found["example_id"])
    if settings.judge != "off":
        from tasks.clean.judge import judge_rows

        started = time.perf_counter()
        judged = judge_rows(store, manifest, llm, well_formed, settings.judge_threshold, teacher_rejected)
        filters[JUDGE] = write_verdicts(store, manifest, JUDGE, judged.verdicts, well_formed, settings.judge, started,
                                        judged.details)
        if settings.judge == "drop":
            dropped.append(judged.verdicts["example_id"])
    kept = _without(rows, dropped)
    if settings.relabel:
        from tasks.clean.relabel import relabel_rows

        started, before = time.perf_counter(), vectors.embedded
        relabeled = relabel_rows(store, manifest, llm, kept, vectors, settings.relabel_candidates)
        filters[RELABEL] = write_verdicts(store, manifest, RELABEL, relabeled.changes, kept, "replace", started,
                                          {**relabeled.details, "texts_embedded": vectors.embedded - before})
        # the mining ranks against the positives training will read, and never offers the new one as a negative
        kept = replace_positives(kept.lazy(), relabeled.changes.lazy().select("example_id", "positive")).collect()
    if settings.mine_negatives > 0:
        started, before = time.perf_counter(), vectors.embedded
        mined = mine_negatives(kept, vectors, settings.mine_negatives, settings.negative_score_ratio)
        filters[MINED_NEGATIVES] = write_mined(store, manifest, MINED_NEGATIVES, mined, kept, started, {
            **details, "per_query": settings.mine_negatives, "score_ratio": settings.negative_score_ratio,
            "texts_embedded": vectors.embedded - before})
    return filters


def llm_filter_report(manifest: Manifest) -> list[str]:
    """What the LLM filters of a cleaned run report beside their counts: the judge's agreement with the
    teacher, and what each one's questions cost (printed by ``synthembed clean``, logged by synthesis)."""
    from tasks.clean.judge import judge_report
    from tasks.clean.relabel import relabel_report

    reports = {JUDGE: judge_report, RELABEL: relabel_report}
    return [line for name, report in reports.items() if name in manifest.filters
            for line in report(manifest.filters[name])]
