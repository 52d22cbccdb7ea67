"""Language identification of generated text with CLD2 (``pycld2``, which ships its model).

Chosen by measurement on real translated text in 74 of our languages (BENCHMARKS.md,
"Language identification"): CLD2 covers all 93, identified ~400-character texts right 98.5 %
of the time (py3langid 98.8 %, lingua 97.7 % on the 61 it covers, fastText's lite model
97.4 %), at ~38,000 texts/s with a 2 MB footprint (py3langid ~2,400/s, lingua ~420/s).

The check is built to reject answers *confidently* in another language, not to demand
certainty about every text:

* Code, URLs, numbers and identifiers are removed first: a Russian query about
  ``asyncio.TaskGroup`` is judged on its Russian words.
* Texts with fewer than ``MIN_LETTERS`` letters left are not judged (a two-word label).
* The text passes if the requested language is among CLD2's languages covering at least
  ``MIN_PERCENT`` of it, or if the top language is one CLD2 confuses with it (Bosnian,
  Croatian and Serbian; Macedonian, Bulgarian and Serbian; Malay and Indonesian; Danish and
  Norwegian).

>>> identify("Der schnelle braune Fuchs springt über den faulen Hund und läuft weiter in den Wald.")
'de'
>>> check_identified("The quick brown fox jumps over the lazy dog and runs on into the forest.", "sw")
Traceback (most recent call last):
...
tasks.synth.rejects.Rejected: wrong_language: identified as en, not sw
"""

from __future__ import annotations

import re
import unicodedata

import pycld2

from tasks.language.languages import LANGUAGES
from tasks.synth.rejects import Rejected, RejectReason

MIN_LETTERS = 40  # shorter texts are not judged: too little evidence, and labels are often English
MIN_PERCENT = 20  # the requested language must cover at least this share of the text
# CLD2's codes that differ from ours (it predates some ISO 639-1 changes).
_TO_OURS = {"iw": "he", "jw": "jv", "nb": "no", "nn": "no", "zh-Hant": "zh", "sr-ME": "sr", "fil": "tl"}
# Pairs CLD2 cannot tell apart reliably on short text: either is accepted for the other.
CONFUSABLE = [{"bs", "hr", "sr"}, {"mk", "bg", "sr"}, {"ms", "id"}, {"da", "no"}]
_NOISE = re.compile(
    r"https?://\S+|\S+@\S+|`[^`]*`"  # URLs, e-mail addresses, inline code
    r"|\b[A-Za-z0-9]*[_./\\][A-Za-z0-9_]+\b|\b[a-z]+[A-Z][A-Za-z0-9]*\b|\b[A-Z]{2,}[A-Za-z0-9]*\b"  # snake_case, a.b, camelCase, ACRONYMS
)


def _ours(code: str) -> str:
    return _TO_OURS.get(code, code)


def _same_group(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in CONFUSABLE)


def clean_for_identification(text: str) -> str:
    """``text`` without code, URLs, identifiers, digits and punctuation (what says nothing of the language).

    Letters and combining marks are kept (Devanagari or Thai vowel signs are marks, not letters).
    """
    text = _NOISE.sub(" ", text)
    kept = (ch if unicodedata.category(ch)[0] in "LM" else " " for ch in text)
    return " ".join("".join(kept).split())


def languages_found(text: str) -> list[tuple[str, int]]:
    """CLD2's languages of ``text`` as (our code, percent of the text), most first; [] if it has no idea."""
    try:
        _, _, details = pycld2.detect(text, bestEffort=True)
    except (pycld2.error, UnicodeError):  # control characters, lone surrogates: nothing to judge
        return []
    return [(_ours(code), percent) for _, code, percent, _ in details if code not in ("un", "xxx") and percent > 0]


def identify(text: str) -> str | None:
    """The most likely language of ``text`` (our code), or None."""
    found = languages_found(clean_for_identification(text))
    return found[0][0] if found else None


def check_identified(text: str, language: str) -> None:
    """Reject ``text`` (``wrong_language``) that CLD2 confidently places in another language."""
    if language not in LANGUAGES:
        return
    cleaned = clean_for_identification(text)
    if sum(ch.isalpha() for ch in cleaned) < MIN_LETTERS:
        return
    found = languages_found(cleaned)
    if not found:
        return
    if any(_same_group(code, language) and percent >= MIN_PERCENT for code, percent in found):
        return
    raise Rejected(RejectReason.WRONG_LANGUAGE, f"identified as {found[0][0]}, not {language}")
