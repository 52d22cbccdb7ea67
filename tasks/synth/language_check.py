"""Is a generated text in the language it was asked for?

Two checks, cheapest first:

1. **Script.** Most of the text's letters must be in the language's script. Latin letters do
   not count against a non-Latin language (code, names and technical terms are written in
   Latin everywhere), but the script's own letters must still be a fair share of the text, so
   an English answer to a Thai prompt fails.
2. **Language identification** (:mod:`tasks.synth.language_id`) for the languages the
   identifier covers: the text must not be confidently identified as another language. This is
   what catches an English answer to a Swahili prompt, which the script check cannot see.

>>> check_language("Как отменить задачу в Python asyncio TaskGroup при тайм-ауте?", "ru")
>>> check_language("How do I cancel a task in Python asyncio?", "th")
Traceback (most recent call last):
...
tasks.synth.rejects.Rejected: wrong_script: 0% of letters are Thai (expected th)
"""

from __future__ import annotations

from tasks.language.languages import language_script
from tasks.language.scripts import letter_counts
from tasks.synth.rejects import Rejected, RejectReason

MIN_SCRIPT_SHARE = 0.5  # of the letters not in Latin (Latin languages: of all letters)
MIN_NATIVE_SHARE = 0.2  # of all letters, for non-Latin languages: some Latin is fine, all Latin is not


def check_script(text: str, language: str) -> None:
    """Reject ``text`` (``wrong_script``) unless it is mostly written in ``language``'s script."""
    script = language_script(language)
    ours, latin, others = letter_counts(text, script)
    letters = ours + latin + others
    if not letters:
        return
    if script == "Latin":
        share, ok = ours / letters, ours / letters >= MIN_SCRIPT_SHARE
    else:
        share = ours / max(1, ours + others)
        ok = share >= MIN_SCRIPT_SHARE and ours / letters >= MIN_NATIVE_SHARE
        share = min(share, ours / letters)
    if not ok:
        raise Rejected(RejectReason.WRONG_SCRIPT, f"{share:.0%} of letters are {script} (expected {language})")


def check_language(text: str, language: str, identify: bool = True) -> None:
    """Reject ``text`` not written in ``language``: wrong script, then (``identify``) wrong language."""
    check_script(text, language)
    if identify:
        from tasks.synth.language_id import check_identified

        check_identified(text, language)
