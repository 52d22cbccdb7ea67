"""Why an LLM answer was not kept: one reason per rejected answer, counted per part and shard.

>>> str(Rejected(RejectReason.TOO_SHORT, "'input' has 12 words (min 150)"))
"too_short: 'input' has 12 words (min 150)"
"""

from __future__ import annotations

from enum import Enum

from tasks.llm.caller import AnswerRejected


class RejectReason(str, Enum):
    """Why an LLM answer was not kept."""

    INVALID_JSON = "invalid_json"  # not parseable as JSON after stripping code fences
    NOT_OBJECT = "not_object"  # JSON, but not the object/list shape asked for
    MISSING_KEY = "missing_key"  # a required key is absent
    WRONG_TYPE = "wrong_type"  # a required value is not a string
    EMPTY_FIELD = "empty_field"  # a required value is blank
    PLACEHOLDER = "placeholder"  # template residue or filler instead of content
    TOO_LONG = "too_long"  # a field over the length asked for (with leeway) or runaway output
    TOO_SHORT = "too_short"  # a field under the length asked for (with leeway)
    WRONG_SCRIPT = "wrong_script"  # text not in the requested language's script
    WRONG_LANGUAGE = "wrong_language"  # right script, but identified as another language
    COPIED = "copied"  # the positive (or negative) repeats the query verbatim
    TRUNCATED = "truncated"  # generation stopped at the token limit
    DUPLICATE = "duplicate"  # exact duplicate of an example already kept


class Rejected(AnswerRejected):
    """An LLM answer that failed validation; ``reason`` says why (and is the ledger's verdict)."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.verdict = reason.value
