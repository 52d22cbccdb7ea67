"""Strict parsing of LLM output. LLM output is data: it goes through ``json.loads`` only.

Each failure is a :class:`Rejected` carrying one reason from :class:`RejectReason`, so a
shard can count rejects by reason.

>>> parse_example(TaskType.SHORT_SHORT, '```json\\n{"input": "capital of Peru", "positive_document": "Lima"}\\n```', "en")
{'input': 'capital of Peru', 'positive_document': 'Lima'}
>>> parse_example(TaskType.SHORT_SHORT, '{"input": "x"}', "en")
Traceback (most recent call last):
...
tasks.synth.rejects.Rejected: missing_key: 'positive_document' is missing
"""

from __future__ import annotations

import json
import re

from tasks.language.scripts import script_share, word_count
from tasks.llm.json_text import strip_fences
from tasks.synth.check_settings import ExampleChecks
from tasks.synth.language_check import check_language
from tasks.synth.lengths import field_bounds
from tasks.synth.rejects import Rejected, RejectReason
from tasks.synth.task_types import TASK_SPECS, TaskType
from tasks.synth.templates import placeholder_names

MAX_ANSWER_CHARS = 64_000  # three fields at their maximum plus JSON: anything longer is runaway output
MAX_FIELD_CHARS = 12_000  # ~3k words: far beyond any requested length, so it means runaway output
# Template residue and filler that a weak model copies instead of writing content: our own
# placeholders as templates write them (``${num_words}``, ``{{task}}``) and, with single braces,
# only the names no text would use (``{query_length}``, ``{src_lang}``). Not every brace:
# LaTeX (``\\frac{a}{b}``), code and f-strings such as ``{label}`` in a document survive.
_NAMES = "|".join(map(re.escape, sorted(placeholder_names(), key=len, reverse=True)))
_DISTINCT = "|".join(map(re.escape, sorted((n for n in placeholder_names() if "_" in n), key=len, reverse=True)))
_PLACEHOLDER = re.compile(
    rf"\$\{{\s*(?:{_NAMES})\s*\}}|\{{\{{\s*(?:{_NAMES})\s*\}}\}}|\{{\s*(?:{_DISTINCT})\s*\}}"
    r"|<\s*(?:your|insert|placeholder)[^>]*>|\blorem ipsum\b|^\s*(?:\.\.\.|…|n/?a|todo|tbd|string)\s*$",
    re.IGNORECASE,
)
__all__ = ["RejectReason", "Rejected", "load_json", "parse_example", "parse_task_list", "script_share", "strip_fences"]


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def load_json(text: str) -> object:
    """``json.loads`` after fence stripping; anything else is a Rejected(invalid_json).

    An answer longer than ``MAX_ANSWER_CHARS`` is rejected before any parsing (runaway output
    must not cost more than a bounded amount of work).
    """
    if len(text) > MAX_ANSWER_CHARS:
        raise Rejected(RejectReason.TOO_LONG, f"answer has {len(text)} characters (max {MAX_ANSWER_CHARS})")
    try:
        return json.loads(strip_fences(text))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Rejected(RejectReason.INVALID_JSON, str(exc)[:200]) from None


def parse_task_list(text: str, max_chars: int = 500) -> list[str]:
    """Parse a brainstorm answer: a JSON list of strings, or an object holding one.

    Non-string, blank, placeholder and over-long items are dropped; duplicates (ignoring case
    and surrounding space) are removed, keeping first occurrence order.
    """
    data = load_json(text)
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise Rejected(RejectReason.NOT_OBJECT, "expected an object holding one list of tasks")
        data = lists[0]
    if not isinstance(data, list):
        raise Rejected(RejectReason.NOT_OBJECT, f"expected a list of tasks, got {type(data).__name__}")
    tasks, seen = [], set()
    for item in data:
        if not isinstance(item, str):
            continue
        task = " ".join(item.split())
        key = task.casefold()
        if not task or len(task) > max_chars or not _encodable(task) or _PLACEHOLDER.search(task) or key in seen:
            continue
        seen.add(key)
        tasks.append(task)
    if not tasks:
        raise Rejected(RejectReason.EMPTY_FIELD, "no usable task in the list")
    return tasks


def _field_language(task_type: TaskType, key: str, language: str, placeholders: dict) -> str | None:
    """The language code one output field must be written in (None: a bitext side the prompt did not name)."""
    if task_type is TaskType.BITEXT:
        return placeholders.get("src_code") if key == "S1" else placeholders.get("tgt_code")
    return language


def parse_example(
    task_type: TaskType,
    text: str,
    language: str,
    placeholders: dict | None = None,
    checks: ExampleChecks | None = None,
) -> dict[str, str]:
    """Parse and validate one generated example; return its fields (whitespace-trimmed).

    Args:
        placeholders: what the prompt asked for (lengths, bitext languages); without them
            only the checks that need nothing from the prompt run.
        checks: length leeway and language identification (default: :class:`ExampleChecks`).

    Raises:
        Rejected: with the first reason the answer fails, in the order the checks run:
            JSON → shape → keys → types → emptiness → placeholders → language → length → copies.
    """
    spec, checks, placeholders = TASK_SPECS[task_type], checks or ExampleChecks(), placeholders or {}
    data = load_json(text)
    if not isinstance(data, dict):
        raise Rejected(RejectReason.NOT_OBJECT, f"expected a JSON object, got {type(data).__name__}")
    bounds = field_bounds(task_type, placeholders, checks.lengths)
    fields: dict[str, str] = {}
    for key in spec.output_keys:
        if key not in data:
            raise Rejected(RejectReason.MISSING_KEY, f"{key!r} is missing")
        value = data[key]
        if not isinstance(value, str):
            raise Rejected(RejectReason.WRONG_TYPE, f"{key!r} is {type(value).__name__}, not a string")
        value = value.strip()
        if not value:
            raise Rejected(RejectReason.EMPTY_FIELD, f"{key!r} is empty")
        if not _encodable(value):  # a "\\ud800" escape: no file or tokenizer can take it
            raise Rejected(RejectReason.INVALID_JSON, f"{key!r} holds a lone surrogate")
        if _PLACEHOLDER.search(value):
            raise Rejected(RejectReason.PLACEHOLDER, f"{key!r} holds placeholder text: {value[:60]!r}")
        if len(value) > MAX_FIELD_CHARS:
            raise Rejected(RejectReason.TOO_LONG, f"{key!r} has {len(value)} characters (max {MAX_FIELD_CHARS})")
        fields[key] = value
    # Language before length: a text in the wrong language is measured in the wrong unit.
    for key in spec.output_keys:
        # Labels may legitimately be short codes or English class names; check only texts.
        if task_type is TaskType.CLASSIFICATION and key != "input_text":
            continue
        if (field_language := _field_language(task_type, key, language, placeholders)) is not None:
            check_language(fields[key], field_language, checks.language_id)
    for key in spec.output_keys:
        field_language = _field_language(task_type, key, language, placeholders) or language
        _check_length(key, fields[key], field_language, bounds.get(key))
    query = fields[spec.query_key].casefold()
    for key in (spec.positive_key, spec.negative_key):
        if key and fields[key].casefold() == query:
            raise Rejected(RejectReason.COPIED, f"{key!r} repeats {spec.query_key!r}")
    if spec.negative_key and fields[spec.negative_key].casefold() == fields[spec.positive_key].casefold():
        raise Rejected(RejectReason.COPIED, f"{spec.negative_key!r} repeats {spec.positive_key!r}")
    return fields


def _check_length(key: str, value: str, language: str, bounds: tuple[int | None, int | None] | None) -> None:
    """Reject a field outside the word bounds its prompt asked for (word equivalents in unspaced scripts)."""
    if not bounds:
        return
    lo, hi = bounds
    words = word_count(value, language)
    if lo is not None and words < lo:
        raise Rejected(RejectReason.TOO_SHORT, f"{key!r} has {words} words (min {lo})")
    if hi is not None and words > hi:
        raise Rejected(RejectReason.TOO_LONG, f"{key!r} has {words} words (max {hi})")
