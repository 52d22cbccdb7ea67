"""How long each generated field was asked to be, how much leeway it gets, and how many tokens that takes.

Prompts ask for lengths (``about 200 words``, ``less than 5 words``, ``at least 300 words``);
:func:`field_bounds` turns the sampled placeholders into word bounds per output field, widened
by the run's :class:`LengthPolicy`, and :func:`completion_tokens_needed` sizes ``max_tokens``
from them and the language's tokens-per-word ratio, so that a 2 × 500-word retrieval answer in
Burmese is not cut off while a short-short pair does not reserve thousands of tokens.

Lengths are in words, or word equivalents for unspaced scripts (see tasks.language.scripts).

>>> policy = LengthPolicy()
>>> field_bounds("retrieval", {"query_length": "less than 5 words", "num_words": 200}, policy)
{'user_query': (None, 8), 'positive_document': (100, 400), 'hard_negative_document': (100, 400)}
>>> field_bounds("long_long", {}, policy)
{'input': (150, None), 'positive_document': (150, None)}
>>> completion_tokens_needed("retrieval", {"query_length": "less than 5 words", "num_words": 200}, "en", policy)
1284
"""

from __future__ import annotations

import math
import re

from pydantic import BaseModel, Field

from tasks.language.languages import language_script
from tasks.synth.task_types import TASK_SPECS, TaskType

# Tokens per English word of the same text: Qwen2.5's tokenizer (the embedded generator) on the
# translations in Django's message catalogs, measured by tests/bench/measure_length_ratios.py
# (2026-12-02). GPT-4o's tokenizer needs fewer in most non-Latin scripts: for it these only
# make max_tokens and budget reservations conservative. Languages without a catalog use
# their script's figure (measured neighbours), else DEFAULT_TOKENS_PER_WORD.
TOKENS_PER_WORD: dict[str, float] = {
    "af": 2.17, "am": 5.97, "ar": 2.13, "az": 3.14, "be": 3.58, "bg": 2.83, "bn": 6.74, "br": 2.88, "bs": 2.4,
    "ca": 2.25, "cs": 2.76, "cy": 2.59, "da": 2.1, "de": 1.98, "el": 6.46, "en": 1.25, "eo": 2.49, "es": 1.78,
    "et": 2.47, "eu": 2.42, "fa": 3.44, "fi": 2.54, "fr": 2.04, "fy": 2.25, "ga": 3.04, "gd": 3.28, "gl": 1.92,
    "he": 1.83, "hi": 5.75, "hr": 2.44, "hu": 2.77, "hy": 6.26, "id": 1.9, "is": 2.77, "it": 1.89, "ja": 1.88,
    "ka": 6.47, "kk": 3.92, "km": 8.57, "kn": 9.16, "ko": 1.97, "ky": 3.36, "lt": 2.84, "lv": 2.96, "mk": 3.11,
    "ml": 9.94, "mn": 3.9, "mr": 6.1, "ms": 2.16, "my": 12.66, "ne": 5.57, "nl": 2.06, "no": 1.97, "pa": 8.61,
    "pl": 2.34, "pt": 1.9, "ro": 2.24, "ru": 2.27, "sk": 2.69, "sl": 2.52, "sq": 3.05, "sr": 3.02, "sv": 2.08,
    "sw": 2.69, "ta": 7.54, "te": 9.86, "th": 3.28, "tr": 2.29, "ug": 4.98, "uk": 3.18, "ur": 4.37, "uz": 3.09,
    "vi": 1.96, "zh": 1.16,
}
TOKENS_PER_WORD_BY_SCRIPT: dict[str, float] = {
    "Latin": 2.5, "Arabic": 3.9, "Devanagari": 5.8, "Hebrew": 1.8, "Bengali": 6.7, "Lao": 3.3, "Cyrillic": 3.1,
}
DEFAULT_TOKENS_PER_WORD = 8.0  # Gujarati, Odia, Sinhala: Indic scripts with no catalog, like Kannada/Telugu
SHORT_FIELD_WORDS = 40  # what an unbounded short field (a label, a short-short text) is budgeted
UNIT_WORDS = {"sentence": 30, "phrase": 12, "passage": 120}  # STS and bitext texts, by the unit asked for
JSON_OVERHEAD_TOKENS = 60  # braces, keys, quotes and escapes of the answer object
_RANGE = re.compile(r"(\d+)\s*to\s*(\d+)")
_LESS = re.compile(r"less than\s*(\d+)")
_LEAST = re.compile(r"at least\s*(\d+)")
_ABOUT = re.compile(r"about\s*(\d+)")


class LengthPolicy(BaseModel):
    """How far a field may stray from the length it was asked for, and the long-long minimum.

    Args:
        min_ratio: a field may be this fraction of the length asked for (0.5: half of it).
        max_ratio: ... or this multiple of it (2.0: twice it); beyond is ``too_long``.
        long_min_words: what long-long prompts ask for per document (paper: 300 words).
        max_tokens_slack: ``max_tokens`` is sized to this multiple of the longest answer allowed.
    """

    min_ratio: float = Field(0.5, gt=0, le=1)
    max_ratio: float = Field(2.0, ge=1)
    long_min_words: int = Field(300, ge=1)
    max_tokens_slack: float = Field(1.2, ge=1)


def asked_words(phrase: object) -> tuple[int | None, int | None]:
    """Word bounds of a length phrase as the paper's placeholders state them.

    >>> asked_words("5 to 15 words"), asked_words("less than 10"), asked_words("at least 50"), asked_words(300)
    ((5, 15), (None, 9), (50, None), (300, 300))
    """
    if isinstance(phrase, int):
        return phrase, phrase
    text = str(phrase)
    if m := _RANGE.search(text):
        return int(m.group(1)), int(m.group(2))
    if m := _LESS.search(text):
        return None, int(m.group(1)) - 1
    if m := _LEAST.search(text):
        return int(m.group(1)), None
    if m := _ABOUT.search(text):
        return int(m.group(1)), int(m.group(1))
    if text.strip().isdigit():
        return int(text), int(text)
    raise ValueError(f"not a length: {phrase!r}")


def typical_words(phrase: object, default: int) -> int:
    """The length an answer to a length phrase probably has (for estimates); ``default`` if none asked.

    >>> typical_words("at least 200", 50), typical_words("less than 10", 50), typical_words("5 to 15 words", 50)
    (200, 8, 10)
    """
    if phrase is None:
        return default
    low, high = asked_words(phrase)
    if low is None:  # "less than N": answers sit a little under the bound
        return max(1, int((high + 1) * 0.8))
    return low if high is None else (low + high) // 2


def _asked(task_type: TaskType, placeholders: dict, policy: LengthPolicy) -> dict[str, tuple[int | None, int | None]]:
    """What the prompt of one example asks of each field, before any leeway (absent placeholders: nothing)."""
    asked: dict[str, tuple[int | None, int | None]] = {}
    if task_type is TaskType.RETRIEVAL:
        if "query_length" in placeholders:
            asked["user_query"] = asked_words(placeholders["query_length"])
        if "num_words" in placeholders:
            asked["positive_document"] = asked["hard_negative_document"] = asked_words(placeholders["num_words"])
    elif task_type is TaskType.CLASSIFICATION and "num_words" in placeholders:
        asked["input_text"] = asked_words(placeholders["num_words"])
    elif task_type is TaskType.LONG_LONG:
        least = int(placeholders.get("min_words", policy.long_min_words))
        asked = {key: (least, None) for key in TASK_SPECS[task_type].output_keys}
    elif task_type in (TaskType.STS, TaskType.BITEXT):
        asked["S1"] = (10, None)  # the templates ask "at least 10 words" of S1 only
    return asked


def field_bounds(task_type: TaskType | str, placeholders: dict, policy: LengthPolicy) -> dict[str, tuple[int | None, int | None]]:
    """Accepted word bounds per field (``None``: no bound), the policy's leeway applied."""
    asked = _asked(TaskType(task_type), placeholders, policy)
    return {key: (math.floor(lo * policy.min_ratio) if lo else None, math.ceil(hi * policy.max_ratio) if hi else None)
            for key, (lo, hi) in asked.items()}


def tokens_per_word(language: str) -> float:
    """The generator's tokens per word (equivalent) in ``language``."""
    return TOKENS_PER_WORD.get(language) or TOKENS_PER_WORD_BY_SCRIPT.get(language_script(language), DEFAULT_TOKENS_PER_WORD)


def completion_tokens_needed(task_type: TaskType | str, placeholders: dict, language: str, policy: LengthPolicy) -> int:
    """``max_tokens`` for one example: its longest accepted answer in the language's tokens, with slack.

    An unbounded long field is budgeted at ``max_ratio`` times its minimum; a bitext answer at
    the costlier of its two languages.
    """
    task_type = TaskType(task_type)
    bounds = field_bounds(task_type, placeholders, policy)
    unbounded = UNIT_WORDS.get(str(placeholders.get("unit")), SHORT_FIELD_WORDS)
    words = 0
    for key in TASK_SPECS[task_type].output_keys:
        lo, hi = bounds.get(key, (None, None))
        if hi:
            words += hi
        elif lo:  # "at least N": budget what max_ratio allows above the N asked for
            words += max(math.ceil(lo * policy.max_ratio / policy.min_ratio), math.ceil(unbounded * policy.max_ratio))
        else:
            words += math.ceil(unbounded * policy.max_ratio)
    languages = [placeholders.get("src_code", language), placeholders.get("tgt_code", language)]
    ratio = max(tokens_per_word(code) for code in languages)
    return math.ceil((words * ratio + JSON_OVERHEAD_TOKENS) * policy.max_tokens_slack)
