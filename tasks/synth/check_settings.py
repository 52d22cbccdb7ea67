"""What a generated example must pass to be kept, as one setting of the run.

>>> ExampleChecks().lengths.long_min_words
300
>>> ExampleChecks(language_id=False).model_dump()["language_id"]
False
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tasks.synth.lengths import LengthPolicy


class ExampleChecks(BaseModel):
    """Validation settings beyond the fixed JSON and shape checks (tasks.synth.parsing).

    Args:
        lengths: how far fields may stray from the lengths their prompts ask for.
        language_id: identify each text's language where the identifier covers it (else only
            the script is checked); see tasks.synth.language_id.
    """

    lengths: LengthPolicy = Field(default_factory=LengthPolicy)
    language_id: bool = True
