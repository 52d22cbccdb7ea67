"""Answers to the cleaning stage's questions (:mod:`tasks.clean.llm_prompts`): the judge's rating, the relabeler's choice.

A judge prompt asks for ``"score"``: kind ``ok`` rates 5, kind ``low_score`` rates 1. A relabel prompt asks
for ``"best"`` and ``"relevant"``: the best is the first candidate whose text holds ``BEST`` (else candidate
1), and relevant is every candidate whose text does not hold ``IRRELEVANT`` — markers a test plants.

>>> json.loads(judge_answer(1))["score"]
1
>>> json.loads(relabel_answer('"best" "relevant"\\n[1] a IRRELEVANT text\\n[2] the BEST text\\n[3] another'))
{'best': 2, 'relevant': [2, 3]}
"""

from __future__ import annotations

import json
import re

_CANDIDATE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def is_judge(prompt: str) -> bool:
    return '"score"' in prompt


def is_relabel(prompt: str) -> bool:
    return '"best"' in prompt and '"relevant"' in prompt


def judge_answer(score: int) -> str:
    return json.dumps({"score": score, "reason": "The positive fits the task." if score >= 3 else "Unrelated."})


def relabel_answer(prompt: str) -> str:
    candidates = [(int(number), text) for number, text in _CANDIDATE.findall(prompt)]
    best = next((number for number, text in candidates if "BEST" in text), 1)
    return json.dumps({"best": best, "relevant": [number for number, text in candidates if "IRRELEVANT" not in text]})
