"""Writing scripts: which letters belong to a language's script, and how long a text is.

Word counts split on spaces, which says nothing about Chinese, Japanese, Thai, Lao, Khmer or
Burmese: they do not put spaces between words. For those, length is counted in characters
and turned into *word equivalents* with a characters-per-word ratio (how many characters a
translation uses per English word), so one length rule (``at least 300 words``) means the
same amount of text in every language.

>>> word_count("the quick brown fox", "en")
4
>>> word_count("敏捷的棕色狐狸跳过了懒狗。" * 10, "zh")   # 120 Han characters
72
>>> round(script_share("Привет, Python asyncio", "Cyrillic"), 2)
0.32
"""

from __future__ import annotations

import functools
import math
import unicodedata

from tasks.language.languages import language_script

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

# Letters (``str.isalpha`` characters of the script: combining vowel signs do not count) per
# English word in translations of the same text: Django's message catalogs, measured by
# tests/bench/measure_length_ratios.py (2026-12-02). Lao has no catalog and takes Thai's figure.
CHARS_PER_WORD: dict[str, float] = {"zh": 1.66, "ja": 2.95, "th": 4.15, "lo": 4.15, "km": 4.04, "my": 3.62}
UNSPACED = frozenset(CHARS_PER_WORD)
# The same scripts' letters as one regular-expression class (Unicode script properties, as the
# regex engines of polars and the `regex` module name them), for vectorised checks over a run.
_REGEX_SCRIPTS = {"Japanese": ("Han", "Hiragana", "Katakana")}
UNSPACED_LETTER = "[" + "".join(dict.fromkeys(
    rf"\p{{{name}}}" for code in sorted(UNSPACED)
    for name in _REGEX_SCRIPTS.get(language_script(code), (language_script(code),)))) + "]"


@functools.lru_cache(maxsize=65536)
def in_script(ch: str, script: str) -> bool:
    """Whether one character belongs to ``script`` (a name from tasks.language.languages)."""
    return unicodedata.name(ch, "").startswith(_SCRIPT_PREFIXES[script])


def script_share(text: str, script: str) -> float:
    """Fraction of the letters in ``text`` that belong to ``script`` (1.0 for no letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 1.0
    return sum(in_script(ch, script) for ch in letters) / len(letters)


def letter_counts(text: str, script: str) -> tuple[int, int, int]:
    """Letters of ``text`` in ``script``, in Latin (when ``script`` is not Latin), and in any other script.

    Kept apart because Latin letters mean something else in a non-Latin language: code,
    product names and technical terms are written in Latin in every language (a Russian query
    about ``Python asyncio TaskGroup``), while letters of a third script mean a wrong answer.

    >>> letter_counts("Привет, Python", "Cyrillic")
    (6, 6, 0)
    """
    ours = latin = others = 0
    for ch in text:
        if not ch.isalpha():
            continue
        if in_script(ch, script):
            ours += 1
        elif in_script(ch, "Latin"):
            latin += 1
        else:
            others += 1
    return ours, latin, others


def word_count(text: str, language: str) -> int:
    """Length of ``text`` in words, or word equivalents for unspaced scripts (see module doc).

    In an unspaced language, Latin words (code, names) count as words and the rest as
    characters over the language's characters-per-word ratio.
    """
    if language not in UNSPACED:
        return len(text.split())
    script = language_script(language)
    native = sum(1 for ch in text if ch.isalpha() and in_script(ch, script))
    if native == 0:
        return len(text.split())
    latin_words = sum(1 for w in text.split() if any(in_script(ch, "Latin") for ch in w))
    return math.floor(native / CHARS_PER_WORD[language]) + latin_words
