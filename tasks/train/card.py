"""The model card: ``{out}/model/README.md``, what a user of the trained model must know.

The training flow writes it once the model is in the store (rank 0 exports the weights, but
only the driver holds the metrics history)::

    write_model_card(config, history, loss_curve_png(history))   # {out}/model/README.md and loss.png

YAML front matter for the hub (``library_name: sentence-transformers``, ``base_model`` when it
is a hub id, the languages of the training rows, ``license: other``), then: what the model
is, how to use it (the ``query`` prompt for queries, documents bare, as trained), the data
(runs, rows per task type and language: the rows training read, after the runs' drop
filters), every :class:`TrainConfig` field, the loss curve and throughput, and the evaluation.

``synthembed evaluate`` fills in the Evaluation section later (:mod:`tasks.evaluate.card`).

Nothing secret is rendered (:mod:`tasks.common.cards`): URLs lose any ``user:password@`` and
query string; ``extra`` entries whose names look like credentials are left out.
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass, fields

import polars as pl

from tasks.common.cards import SECRET_NAME, public_url, yaml_string
from tasks.common.report import markdown_table
from tasks.runs.profile import Profile, count_table, profile_rows
from tasks.runs.schema import ROW_SCHEMA
from tasks.storage.store import open_store
from tasks.train.base_model import spec_kind
from tasks.train.config import TrainConfig
from tasks.train.data import read_run, split_run_url
from tasks.train.sources import read_labelled, source_kind
from tasks.train.text import format_query

CARD_FILE = "README.md"
LOSS_IMAGE = "loss.png"
EVALUATION_FILE = "synthembed_evaluation.json"
TRAIN_CONFIG_FILE = "synthembed_train_config.json"  # written by tasks.train.publish: the folder is ours
EVALUATION_HEADING = "## Evaluation"
# The hub ids of the aliases' models (tasks.train.base_model): the hub's base_model takes only ids.
ALIAS_HUB_IDS = {"embedded-qwen": "Qwen/Qwen2.5-Coder-0.5B-Instruct", "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct"}
TAGS = ("sentence-transformers", "feature-extraction", "sentence-similarity", "text-embeddings", "e5-mistral",
        "synthembed")
log = logging.getLogger(__name__)


def base_model_hub_id(spec: str) -> str | None:
    """The hub id of the base model, if it has one (an alias's model, or a hub id); None for local files."""
    kind = spec_kind(spec)
    return ALIAS_HUB_IDS.get(spec) if kind == "alias" else spec if kind == "hub" else None


def _cell(value) -> str:
    """A value for a Markdown table cell: on one line, ``|`` escaped."""
    return str(value).replace("|", "\\|").replace("\n", "\\n")


@dataclass(frozen=True)
class TrainingData:
    """What training read: one row per run (``run, url, rows, weight``), and the rows' aggregates."""

    runs: list[dict]
    profile: Profile


def read_training_data(urls: list[str], weights: list[float] | None = None) -> TrainingData:
    """The rows of each source as training reads them (:func:`tasks.train.data.read_run`: committed, filtered;
    labelled sets: :func:`tasks.train.sources.read_labelled`); the profile is of the synthesis runs' rows."""
    runs, frames = [], []
    for i, url in enumerate(urls):
        synthetic = source_kind(url) == "run"
        frame = read_run(url) if synthetic else read_labelled(url)
        frames += [frame] if synthetic else []
        runs.append({"run": f"`{split_run_url(url)[1]}`" if synthetic else "labelled", "url": f"`{public_url(url)}`",
                     "rows": frame.height, "weight": weights[i] if weights else "all rows"})
    rows = pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame(schema=ROW_SCHEMA)
    return TrainingData(runs, profile_rows(rows.lazy()))


def hyperparameter_rows(config: TrainConfig) -> list[dict]:
    """Every TrainConfig field and its value (URLs made public, credential-like ``extra`` entries left out)."""
    rows = []
    for field in fields(config):
        value = getattr(config, field.name)
        if field.name == "data":
            value = ", ".join(public_url(url) for url in value)
        elif field.name == "out":
            value = public_url(value)
        elif field.name == "excluded_rows":  # row keys: how many says what matters
            value = f"{len(value)} labelled row(s) overlapping evaluation data"
        elif field.name == "extra":
            value = json.dumps({k: v for k, v in value.items() if not SECRET_NAME.search(str(k))}, default=str)
        rows.append({"setting": f"`{field.name}`", "value": f"`{_cell(value)}`"})
    return rows


def training_summary(history: list[dict]) -> dict:
    """Loss and throughput over the recorded steps; medians, since the first step carries the warm-up.

    >>> training_summary([{"step": 1, "loss": 2.0, "tokens_per_s": 90.0, "examples_per_s": 2.0, "seconds_per_step": 4.0},
    ...                   {"step": 2, "loss": 1.0, "tokens_per_s": 110.0, "examples_per_s": 4.0, "seconds_per_step": 2.0}])
    {'steps': '1-2', 'first_loss': 2.0, 'last_loss': 1.0, 'lowest_loss': 1.0, 'tokens_per_s': 100.0, 'examples_per_s': 3.0, 's_per_step': 3.0, 'minutes': 0.1}
    """
    if not history:
        return {}
    median = {k: statistics.median(m[k] for m in history) for k in ("tokens_per_s", "examples_per_s", "seconds_per_step")}
    summary = {"steps": f"{history[0]['step']}-{history[-1]['step']}", "first_loss": round(history[0]["loss"], 4),
               "last_loss": round(history[-1]["loss"], 4), "lowest_loss": round(min(m["loss"] for m in history), 4),
               "tokens_per_s": round(median["tokens_per_s"], 1), "examples_per_s": round(median["examples_per_s"], 2),
               "s_per_step": round(median["seconds_per_step"], 2),
               "minutes": round(sum(m["seconds_per_step"] for m in history) / 60, 1)}
    if evaluated := [m for m in history if "heldout_loss" in m]:  # rows never trained on (tasks/train/heldout.py)
        best = min(evaluated, key=lambda m: m["heldout_loss"])
        summary |= {"best_heldout_loss": round(best["heldout_loss"], 4), "best_heldout_step": best["step"],
                    "best_heldout_top1": round(best["heldout_accuracy"], 4)}
    return summary


def render_model_card(config: TrainConfig, data: TrainingData, history: list[dict], loss_image: str | None = LOSS_IMAGE) -> str:
    """The whole ``README.md``: front matter, then one section after another (Evaluation: not yet).

    Args:
        config: the training configuration (as saved in ``synthembed_train_config.json``).
        data: what training read (:func:`read_training_data`).
        history: the metrics of each step (``step, loss, tokens_per_s, examples_per_s, seconds_per_step``).
        loss_image: the loss curve's path relative to the card, or None when there is none.
    """
    profile = data.profile
    generators = ", ".join(f"`{m}`" for m in profile.models) or "an LLM"
    base = base_model_hub_id(config.base_model)
    alias = f" (alias `{config.base_model}`, from its quantised GGUF file)" if base != config.base_model else ""
    base_name = f"`{base}`{alias}" if base else \
        f"`{config.base_model.rstrip('/').rsplit('/', 1)[-1]}` (a local checkpoint)"
    sections = [_front_matter(base, profile), _summary(config, profile, base_name, generators),
                _usage(config), _data(config, data), _training(config, history, loss_image),
                "\n\n".join([EVALUATION_HEADING, (f"Not evaluated yet: `synthembed evaluate --model "
                                                    f"{public_url(config.out)}/model --baselines` fills in this section.")]),
                _limitations(generators), _licence(base_name, generators)]
    return "\n\n".join(sections) + "\n"


def _front_matter(base: str | None, profile: Profile) -> str:
    lines = ["---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity",
             *([f"base_model: {yaml_string(base)}"] if base else []),
             "license: other", "license_name: base-model-and-generator-terms",
             "language:", *(f"- {code}" for code in profile.all_languages),
             "tags:", *(f"- {tag}" for tag in TAGS), *(f"- {yaml_string('generator:' + m)}" for m in profile.models),
             "---"]
    return "\n".join(lines)


def _summary(config: TrainConfig, profile: Profile, base_name: str, generators: str) -> str:
    name = config.out.rstrip("/").rsplit("/", 1)[-1]
    return "\n".join([
        f"# synthembed embedding model `{name}`", "",
        (f"A text-embedding model: {base_name} fine-tuned with LoRA (rank {config.lora_rank}, merged into the weights) "
         f"by contrastive learning (InfoNCE on cosine similarity, τ = {config.temperature}, in-batch and hard negatives) "
         f"on {profile.rows} synthetic examples in {len(profile.all_languages)} language(s) and "
         f"{len(profile.task_types)} task type(s), written by {generators}. The recipe is E5-mistral's (Wang et al. "
         "2024, *Improving Text Embeddings with Large Language Models*, arXiv:2401.00368); made with synthembed."), "",
        (f"An embedding is the last layer's hidden state at the EOS token (last-token pooling, the tokenizer appends "
         f"EOS), normalised; compare with cosine similarity. Texts are cut to {config.max_length} tokens, EOS "
         f"included. The LoRA adapter alone is at `{public_url(config.out)}/adapter` (load it onto the base model "
         "with `peft.PeftModel.from_pretrained`).")])


def _usage(config: TrainConfig) -> str:
    prompt = format_query(config.query_instruction, "")
    return "\n".join([
        "## Usage", "", "```python", "from sentence_transformers import SentenceTransformer", "",
        'model = SentenceTransformer("path/to/model")  # this folder, or its hub repository id',
        f"# queries get the prompt it was trained with: {json.dumps(prompt, ensure_ascii=False)}",
        'queries = model.encode(["how do solar panels work"], prompt_name="query")',
        'documents = model.encode(["Solar panels turn sunlight into electricity."])  # documents bare, as in training',
        "print(model.similarity(queries, documents))", "",
        "# another task: say it in the instruction",
        'queries = model.encode(["..."], prompt="Instruct: Retrieve semantically similar text\\nQuery: ")', "```", "",
        ("Queries without their instruction, or documents with one, embed differently from how the model was "
         "trained: keep queries and documents apart as above.")])


def _data(config: TrainConfig, data: TrainingData) -> str:
    profile, seen = data.profile, config.steps * config.batch_size
    return "\n\n".join([
        "## Training data",
        (f"Committed rows of {len(data.runs)} source(s): synthesis runs without the rows their drop filters "
         "(near-duplicates, evaluation overlap, meaning) remove, and labelled sets without rows overlapping evaluation "
         "data. Queries were given `Instruct: {task}\\nQuery: ` with each row's own task "
         "definition; positives and hard negatives stayed bare. Batches never mix rows with different numbers of hard "
         f"negatives (at most {config.negatives_per_query} per query). {config.steps} steps × {config.batch_size} pairs = {seen} pairs seen "
         f"(≈ {seen / max(profile.rows, 1):.1f} passes over the rows)."),
        markdown_table(data.runs),
        ("Rows per language and task type (bitext rows count under their shard's language; the other side is in "
         f"the language list too): languages {', '.join(f'`{c}`' for c in profile.all_languages)}."),
        markdown_table(count_table(profile))])


def _training(config: TrainConfig, history: list[dict], loss_image: str | None) -> str:
    summary = training_summary(history)
    parts = ["## Training",
             ("Ray Train, GradCache (the contrastive batch is independent of memory), AdamW with warm-up then linear "
              "decay. The configuration (also in `synthembed_train_config.json`):"),
             markdown_table(hyperparameter_rows(config)), "### Loss"]
    if loss_image:
        parts.append(f"![training loss]({loss_image})\n\n[{loss_image}]({loss_image}): loss per step, held-out loss "
                     "(rows never trained on) where measured, learning rate dashed.")
    parts.append(markdown_table([summary]) + "\n\nThroughput is the median over steps (tokens/s counts query and "
                 "document tokens of the whole batch, all workers)." if summary else "No step metrics were recorded.")
    return "\n\n".join(parts)


def _limitations(generators: str) -> str:
    return "\n".join([
        "## Limitations", "",
        (f"- Trained only on synthetic text written by {generators}: its errors, biases and blind spots are the "
         "model's; languages and task types with few rows above are barely trained."),
        "- Evaluation scores describe the tasks named in that section; they say little about other domains or languages.",
        "- The prompt matters: encode queries with `prompt_name=\"query\"` (or an `Instruct: ...\\nQuery: ` prompt)."])


def _licence(base_name: str, generators: str) -> str:
    return "\n\n".join([
        "## Licence",
        (f"Depends on the base model and the generator: the weights derive from {base_name} and carry its licence; "
         f"the training data was generated by {generators} and inherits its terms (for a hosted model, the provider's "
         "terms on using outputs, some of which restrict training competing models). No other licence is granted "
         "here, hence `license: other`; check both before use or redistribution.")])


def write_model_card(config: TrainConfig, history: list[dict], loss_png: bytes) -> str:
    """Write ``loss.png`` and ``README.md`` into ``{out}/model``; return the card's URL.

    A retrained model starts without scores: an earlier model's ``synthembed_evaluation.json`` is removed.
    """
    store = open_store(config.out)
    store.write_bytes(store.path("model", LOSS_IMAGE), loss_png)
    card = render_model_card(config, read_training_data(config.data, config.data_weights), history)
    if store.exists(store.path("model", EVALUATION_FILE)):
        store.fs.rm_file(store.path("model", EVALUATION_FILE))
    store.write_bytes(store.path("model", CARD_FILE), card.encode())
    return store.url("model", CARD_FILE)
