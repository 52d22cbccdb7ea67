"""Strict parsing of LLM output. LLM output is data: it goes through ``json.loads`` only.

Each failure is a :class:`Rejected` carrying one reason from :class:`RejectReason`, so a
shard can count rejects by reason.

>>> parse_example(TaskType.SHORT_SHORT, '```json\\n{"input": "capital of Peru", "positive_document": "Lima"}\\n```', "en")
{'input': 'capital of Peru', 'positive_document': 'Lima'}
>>> parse_example(TaskType.SHORT_SHORT, '{"input": "x"}', "en")
Traceback (most recent call last):
...
tasks.synth.parsing.Rejected: missing_key: 'positive_document' is missing
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from enum import Enum

from tasks.synth.languages import language_script
from tasks.synth.task_types import TASK_SPECS, TaskType

MAX_ANSWER_CHARS = 64_000  # three fields at their maximum plus JSON: anything longer is runaway output
MAX_FIELD_CHARS = 12_000  # ~3k words: far beyond any requested length, so it means runaway output
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
# Template residue and filler that a weak model copies instead of writing content.
_PLACEHOLDER = re.compile(
    r"\$\{\w+\}|\{\{?\s*\w+\s*\}?\}|<\s*(?:your|insert|placeholder)[^>]*>|\blorem ipsum\b|^\s*(?:\.\.\.|…|n/?a|todo|tbd|string)\s*$",
    re.IGNORECASE,
)


class RejectReason(str, Enum):
    """Why an LLM answer was not kept."""

    INVALID_JSON = "invalid_json"  # not parseable as JSON after stripping code fences
    NOT_OBJECT = "not_object"  # JSON, but not the object/list shape asked for
    MISSING_KEY = "missing_key"  # a required key is absent
    WRONG_TYPE = "wrong_type"  # a required value is not a string
    EMPTY_FIELD = "empty_field"  # a required value is blank
    PLACEHOLDER = "placeholder"  # template residue or filler instead of content
    TOO_LONG = "too_long"  # a field over MAX_FIELD_CHARS
    TOO_SHORT = "too_short"  # a field under the type's minimum word count
    WRONG_LANGUAGE = "wrong_language"  # text not in the requested language's script
    COPIED = "copied"  # the positive (or negative) repeats the query verbatim
    TRUNCATED = "truncated"  # generation stopped at the token limit
    DUPLICATE = "duplicate"  # exact duplicate of an example already kept


class Rejected(ValueError):
    """An LLM answer that failed validation; ``reason`` says why."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason


def strip_fences(text: str) -> str:
    """Remove a surrounding markdown code fence (```json ... ```), if any."""
    match = _FENCE.match(text)
    return match.group(1) if match else text.strip()


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
        if not task or len(task) > max_chars or _PLACEHOLDER.search(task) or key in seen:
            continue
        seen.add(key)
        tasks.append(task)
    if not tasks:
        raise Rejected(RejectReason.EMPTY_FIELD, "no usable task in the list")
    return tasks


# Unicode script of a character, read from its name: cheap and dependency-free.
_SCRIPT_PREFIXES = {
    "Cyrillic": ("CYRILLIC",), "Greek": ("GREEK",), "Arabic": ("ARABIC",), "Hebrew": ("HEBREW",),
    "Devanagari": ("DEVANAGARI",), "Bengali": ("BENGALI",), "Gujarati": ("GUJARATI",),
    "Gurmukhi": ("GURMUKHI",), "Oriya": ("ORIYA",), "Tamil": ("TAMIL",), "Telugu": ("TELUGU",),
    "Kannada": ("KANNADA",), "Malayalam": ("MALAYALAM",), "Sinhala": ("SINHALA",), "Thai": ("THAI",),
    "Lao": ("LAO",), "Khmer": ("KHMER",), "Myanmar": ("MYANMAR",), "Georgian": ("GEORGIAN",),
    "Armenian": ("ARMENIAN",), "Ethiopic": ("ETHIOPIC",), "Hangul": ("HANGUL",),
    "Han": ("CJK",), "Japanese": ("CJK", "HIRAGANA", "KATAKANA"), "Latin": ("LATIN",),
}


@functools.lru_cache(maxsize=65536)
def _in_script(ch: str, script: str) -> bool:
    return unicodedata.name(ch, "").startswith(_SCRIPT_PREFIXES[script])


def script_share(text: str, script: str) -> float:
    """Fraction of the letters in ``text`` that belong to ``script`` (1.0 for no letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 1.0
    return sum(_in_script(ch, script) for ch in letters) / len(letters)


def check_language(text: str, language: str, min_share: float = 0.5) -> None:
    """Reject text whose letters are mostly not in the language's script.

    Catches the common failure of a model answering in English (or Chinese) when asked for
    Thai, Russian, Hindi... Latin-script languages cannot be told apart this cheaply, so for
    them only "mostly Latin letters" is checked.
    """
    script = language_script(language)
    share = script_share(text, script)
    if share < min_share:
        raise Rejected(RejectReason.WRONG_LANGUAGE, f"only {share:.0%} of letters are {script} (expected {language})")


def _field_languages(task_type: TaskType, key: str, language: str, placeholders: dict) -> str:
    """The language code one output field must be written in."""
    if task_type is TaskType.BITEXT:
        return placeholders["src_code"] if key == "S1" else placeholders["tgt_code"]
    return language


def parse_example(
    task_type: TaskType,
    text: str,
    language: str,
    placeholders: dict | None = None,
    max_chars: int = MAX_FIELD_CHARS,
) -> dict[str, str]:
    """Parse and validate one generated example; return its fields (whitespace-trimmed).

    Raises:
        Rejected: with the first reason the answer fails, in the order the checks run:
            JSON → shape → keys → types → emptiness → placeholders → length → language → copies.
    """
    spec = TASK_SPECS[task_type]
    data = load_json(text)
    if not isinstance(data, dict):
        raise Rejected(RejectReason.NOT_OBJECT, f"expected a JSON object, got {type(data).__name__}")
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
        if _PLACEHOLDER.search(value):
            raise Rejected(RejectReason.PLACEHOLDER, f"{key!r} holds placeholder text: {value[:60]!r}")
        if len(value) > max_chars:
            raise Rejected(RejectReason.TOO_LONG, f"{key!r} has {len(value)} characters (max {max_chars})")
        min_words = spec.min_words.get(key, 0)
        if min_words and len(value.split()) < min_words:
            raise Rejected(RejectReason.TOO_SHORT, f"{key!r} has {len(value.split())} words (min {min_words})")
        fields[key] = value
    for key in spec.output_keys:
        # Labels may legitimately be short codes or English class names; check only texts.
        if task_type is TaskType.CLASSIFICATION and key != "input_text":
            continue
        check_language(fields[key], _field_languages(task_type, key, language, placeholders or {}))
    query = fields[spec.query_key].casefold()
    for key in (spec.positive_key, spec.negative_key):
        if key and fields[key].casefold() == query:
            raise Rejected(RejectReason.COPIED, f"{key!r} repeats {spec.query_key!r}")
    if spec.negative_key and fields[spec.negative_key].casefold() == fields[spec.positive_key].casefold():
        raise Rejected(RejectReason.COPIED, f"{spec.negative_key!r} repeats {spec.positive_key!r}")
    return fields
