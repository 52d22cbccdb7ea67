"""An LLM's JSON answer as text: a surrounding markdown code fence is removed before ``json.loads``.

Small models wrap JSON in a fence even in JSON mode; synthesis (:mod:`tasks.synth.parsing`) and the
cleaning stage's LLM questions (:mod:`tasks.clean.judge`) both read answers through this one function.

>>> strip_fences('```json\\n{"score": 4}\\n```')
'{"score": 4}'
>>> strip_fences('  {"score": 4} ')
'{"score": 4}'
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


def strip_fences(text: str) -> str:
    """Remove a surrounding markdown code fence (```json ... ```), if any."""
    match = _FENCE.match(text)
    return match.group(1) if match else text.strip()
