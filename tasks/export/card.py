"""The dataset card: ``README.md`` with YAML metadata on top and what a user must know below.

The YAML front matter is what the ``datasets`` library and the Hugging Face hub read:
``configs`` maps each config name to its Parquet files (``load_dataset(folder, "sts")``),
``language`` lists ISO 639-1 codes, ``license: other`` says the terms are not a standard
licence. Generated text inherits the terms of the model that wrote it (its licence, or a
hosted provider's terms on using outputs), so the card names that model and says so rather
than claiming a licence the data may not have.

Below it: how the data was made (generator, sampling parameters, prompt templates), counts
per task type and language, yield and rejects from the run's manifest, filters applied
after generation when the manifest records any, the charts, a usage example and limits.

Nothing secret is rendered: generator settings are picked field by field (no endpoint URL,
no server option whose name looks like a credential), and no store URL or local path.

>>> size_category(999), size_category(1000), size_category(2_500_000)
('n<1K', '1K<n<10K', '1M<n<10M')
"""

from __future__ import annotations

from tasks.common.cards import SECRET_NAME, yaml_string
from tasks.common.report import markdown_table
from tasks.export.dataset import EXPORT_COLUMNS, EXPORT_ONLY_COLUMNS, config_glob
from tasks.language.languages import LANGUAGES
from tasks.runs.manifest import Manifest, ShardStatus
from tasks.runs.profile import TOP_TASKS, Profile, count_table
from tasks.runs.schema import ROW_COLUMNS, TASK_COLUMNS
from tasks.runs.tables import filter_table, task_type_table

DEFAULT_CONFIG = "all"
TASK_CATEGORIES = ("sentence-similarity", "text-retrieval")
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))

def size_category(rows: int) -> str:
    """The hub's ``size_categories`` value for this many rows."""
    return next((label for limit, label in SIZE_CATEGORIES if rows < limit), "n>1B")


def generator_settings(manifest: Manifest) -> dict:
    """Sampling and prompt settings of the run, field by field from its parameters and config (no secrets)."""
    generator = dict(manifest.parameters.get("generator") or {})
    llm = dict(manifest.config.get("llm") or {})
    picked = {name: generator.get(name, llm.get(name))
              for name in ("model", "temperature", "top_p", "max_tokens", "json_mode")}
    picked["template_set"] = generator.get("templates")
    picked["api_mode"] = llm.get("mode")
    for name in ("seed", "max_tries_per_example", "part_size"):
        picked[name] = manifest.parameters.get(name, manifest.config.get(name))
    options = {k: v for k, v in (llm.get("extra_body") or {}).items()
               if not SECRET_NAME.search(str(k)) and isinstance(v, (int, float, str, bool))}
    picked["server_options"] = ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or None
    return {k: v for k, v in picked.items() if v is not None}


def _front_matter(profile: Profile, configs: dict[str, list[tuple[str, int]]], models: list[str], run_id: str) -> str:
    modes = ["multilingual" if len(profile.all_languages) > 1 else "monolingual"]
    if "bitext" in configs:
        modes.append("translation")
    lines = ["---", f"pretty_name: {yaml_string(f'synthembed synthetic embedding data ({run_id})')}",
             "license: other", "license_name: generator-model-terms",
             "language:", *(f"- {code}" for code in profile.all_languages),
             "multilinguality:", *(f"- {mode}" for mode in modes),
             "annotations_creators:", "- machine-generated", "language_creators:", "- machine-generated",
             "source_datasets:", "- original",
             "task_categories:", *(f"- {category}" for category in TASK_CATEGORIES),
             "size_categories:", f"- {size_category(profile.rows)}",
             "tags:", "- synthetic", "- text-embeddings", "- e5-mistral", "- synthembed",
             *(f"- {yaml_string('generator:' + model)}" for model in models),
             "configs:", f"- config_name: {DEFAULT_CONFIG}", "  default: true", "  data_files:",
             "  - split: train", f"    path: {config_glob(None)}"]
    for task_type in configs:
        lines += [f"- config_name: {task_type}", "  data_files:", "  - split: train",
                  f"    path: {config_glob(task_type)}"]
    return "\n".join([*lines, "---"])


def _reject_table(manifest: Manifest) -> list[dict]:
    task_types = list(dict.fromkeys(e.task_type for e in manifest.shards.values()))
    totals: dict[str, dict[str, int]] = {}
    for entry in manifest.shards.values():
        for reason, n in entry.rejects.items():
            by_type = totals.setdefault(reason, {})
            by_type[entry.task_type] = by_type.get(entry.task_type, 0) + n
    rows = [{"reason": reason, **{t: by_type.get(t, 0) for t in task_types}, "total": sum(by_type.values())}
            for reason, by_type in totals.items()]
    return sorted(rows, key=lambda row: (-row["total"], row["reason"]))


def render_card(manifest: Manifest, profile: Profile, configs: dict[str, list[tuple[str, int]]],
                plots: dict[str, str], repo_id: str | None = None, folder_name: str = "DATASET") -> str:
    """The whole ``README.md``: front matter, then one section after another.

    Args:
        manifest: the run's manifest (parameters, shard accounting).
        profile: aggregates of the exported rows (every count in the card is of exported rows).
        configs: task type -> its files as (relative path, rows).
        plots: chart title -> relative path of its PNG.
        repo_id: the hub repository, for the usage example (default: a local folder).
        folder_name: the folder's name, for the local usage example.
    """
    settings = generator_settings(manifest)
    models = ", ".join(f"`{m}`" for m in profile.models or [settings.get("model", "unknown")])
    applied = filter_table(manifest) if manifest.filters else []
    sections = [
        _front_matter(profile, configs, profile.models or [settings.get("model", "unknown")], manifest.run_id),
        _summary(manifest, profile, configs, models),
        _structure(configs),
        _how_it_was_made(settings, profile),
        _counts(manifest, profile),
        _filters(applied),
        _charts(plots, profile),
        _usage(repo_id or f"path/to/{folder_name}", "retrieval" if "retrieval" in configs else next(iter(configs))),
        _limitations(models, bool(applied), manifest.parameters.get("checks", {}).get("language_id", True)),
        _licence(models),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _summary(manifest: Manifest, profile: Profile, configs: dict, models: str) -> str:
    names = [f"{LANGUAGES[c][0]} (`{c}`)" if c in LANGUAGES else f"`{c}`" for c in profile.all_languages]
    text = [f"# Synthetic text-embedding training data: run `{manifest.run_id}`", "",
            (f"{profile.rows} training examples for text-embedding models in {len(profile.all_languages)} language(s) "
             f"and {len(configs)} task type(s), written by the language model {models} following the recipe of "
             "E5-mistral (Wang et al. 2024, *Improving Text Embeddings with Large Language Models*, arXiv:2401.00368): "
             "the model first brainstorms task definitions, then writes one example (a query, a positive and usually "
             f"a hard negative) for a sampled task. Made with synthembed, synthesis run `{manifest.run_id}` (started "
             f"{manifest.created_at})."), "",
            f"Languages: {', '.join(names)}."]
    unfinished = [e.key for e in manifest.shards.values() if e.status is not ShardStatus.COMPLETE]
    if unfinished:
        text += ["", (f"**Partial run:** {len(unfinished)} shard(s) were not complete at export "
                      f"({', '.join(unfinished)}); their committed parts are included, the rest is missing.")]
    return "\n".join(text)


def _structure(configs: dict[str, list[tuple[str, int]]]) -> str:
    unknown = ("?", "?", "?")
    table = [{"config": t, "rows": sum(n for _, n in files), "files": len(files),
              **dict(zip(("query", "positive", "negative"), TASK_COLUMNS.get(t, unknown)))}
             for t, files in configs.items()]
    return "\n\n".join([
        "## Dataset structure",
        (f"One config per task type, each a single `train` split; the default config `{DEFAULT_CONFIG}` holds every "
         "task type (same columns)."),
        markdown_table(table),
        markdown_table([{"column": f"`{name}`", "meaning": EXPORT_ONLY_COLUMNS.get(name) or ROW_COLUMNS[name][1]}
                        for name in EXPORT_COLUMNS])])


def _how_it_was_made(settings: dict, profile: Profile) -> str:
    templates = zip(profile.templates["template_id"].to_list(), profile.templates["rows"].to_list())
    return "\n\n".join([
        "## How it was made",
        markdown_table([{"setting": k, "value": f"`{v}`"} for k, v in settings.items()]),
        ("Answers were kept only if they parsed as the JSON object asked for, had every field non-empty and within "
         "length limits, were written in the requested language's script, did not copy the query, and were not an "
         "exact duplicate; rejected answers were retried up to `max_tries_per_example` times."),
        ("Prompt templates used (ids are stored on every row; their text is in synthembed's "
         f"`tasks/synth/templates.py` at template set `{settings.get('template_set', 'unknown')}`):"),
        markdown_table([{"template_id": f"`{t}`", "rows": n} for t, n in templates])])


def _counts(manifest: Manifest, profile: Profile) -> str:
    rejects = _reject_table(manifest)
    return "\n\n".join([
        "## Counts per task type and language",
        "Bitext rows are counted under their shard's language (one side of each pair; the other is usually English).",
        markdown_table(count_table(profile)),
        "## Yield",
        ("Rows exported against examples requested, per task type. A rejected answer is one LLM answer that failed "
         "validation; its example may have succeeded on a later try."),
        markdown_table(task_type_table(manifest, profile.rows_by("task_type"))),
        "## Rejected answers by reason",
        markdown_table(rejects) if rejects else "No answer was rejected."])


def _filters(applied: list[dict]) -> str:
    if not applied:
        return ""
    return "\n\n".join(["## Filters", ("Applied after generation, as recorded in the run's manifest: rows of a `drop` "
                                       "filter are not in this dataset, rows of a `mark` filter are (and are counted here):"),
                         markdown_table(applied)])


def _charts(plots: dict[str, str], profile: Profile) -> str:
    diversity = [{**row, "top_share": f"{row['top_share']:.0%}"} for row in profile.diversity()]
    return "\n\n".join([
        "## Charts", *(f"![{title}]({path})" for title, path in plots.items()),
        (f"Task definitions per task type (`top_share`: rows covered by the {TOP_TASKS} most frequent; sts and bitext "
         "use fixed definitions by design):"),
        markdown_table(diversity)])


def _usage(where: str, config: str) -> str:
    return "\n".join([
        "## Usage", "", "```python", "from datasets import load_dataset", "",
        f'everything = load_dataset("{where}", split="train")  # config "{DEFAULT_CONFIG}"',
        f'{config} = load_dataset("{where}", "{config}", split="train")', "",
        "# E5-mistral style: the task definition is the query's instruction, documents get none",
        f"row = {config}[0]",
        'query = f"Instruct: {row[\'task\']}\\nQuery: {row[\'query\']}"',
        'document, hard_negative = row["positive"], row["negative"]', "```", "",
        f'The Parquet files also read without the card: `load_dataset("parquet", data_dir="{where}/data/{config}")`.'])


def _limitations(models: str, filtered: bool, language_id: bool = True) -> str:
    return "\n".join([
        "## Limitations", "",
        (f"- Every text was written by {models}, not by people, and was checked only by the rules above: facts may "
         "be wrong, labels and translations imperfect, and texts may carry the model's biases."),
        ("- Each text was checked for its language's script and by CLD2 language identification; languages CLD2 "
         "confuses (Bosnian/Croatian/Serbian, Malay/Indonesian, Danish/Norwegian) are accepted for each other."
         if language_id else
         "- The language check looked at the script only (`--no-language-id`): a Spanish row is Latin-script text, "
         "not proven Spanish."),
        "- Exact duplicates are removed within a shard; near-duplicates and overlap with evaluation sets are "
        + ("handled only as the Filters section records." if filtered else "not removed."),
        "- Small generators fall short of the requested lengths and diversity: see the charts before training on it.",
        "- Yield and rejects describe this run's generator and settings, not the method."])


def _licence(models: str) -> str:
    return "\n\n".join([
        "## Licence",
        (f"The data was generated by {models} and inherits its terms: the model's licence, and for a hosted model "
         "the provider's terms of use for its outputs (some restrict training models that compete with theirs). No "
         "other licence is granted here, hence `license: other`; check those terms before use or redistribution.")])
