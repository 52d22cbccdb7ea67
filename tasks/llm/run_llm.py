"""A run's LLM as a later stage reaches it: the endpoint and sampling it was made with, and its budget.

Synthesis pays the generator through one :class:`~tasks.llm.budget.Budget`; the cleaning stage's
LLM questions (the judge, the relabeler: :mod:`tasks.clean.asking`) must be held by the *same*
budget, so they take the run's limits and prices here and start from what the run has paid.
Built from the run's configuration (:meth:`tasks.synth.config.SynthesisConfig.run_llm`), which validated
it. No secret is held: the API key is read where a request is sent (:func:`tasks.common.secrets.llm_api_key`).

>>> llm = RunLLM(llm=LLMSettings(base_url="http://127.0.0.1:8080/v1", model="qwen"), budget_tokens=1000)
>>> budget = llm.budget(spent_prompt=600, spent_completion=100)
>>> budget.spent_tokens, budget.limit_tokens
(700, 1000)
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tasks.llm.budget import Budget
from tasks.llm.client import LLMSettings


class RunLLM(BaseModel):
    """The run's generator and budget.

    Args:
        llm: how to reach the generator (endpoint, model, concurrency, online or batch).
        budget_tokens: tokens the whole run may spend (generation and LLM filters together).
        budget_usd: the same in estimated USD at the prices below.
        price_input_per_mtok / price_output_per_mtok: USD per million prompt / completion tokens as
            the run is billed (a Batch API run: half the online price already).
    """

    llm: LLMSettings
    budget_tokens: int | None = Field(None, ge=1)
    budget_usd: float | None = Field(None, gt=0)
    price_input_per_mtok: float = Field(0.0, ge=0)
    price_output_per_mtok: float = Field(0.0, ge=0)

    def budget(self, spent_prompt: int = 0, spent_completion: int = 0) -> Budget:
        """The run's budget, starting from what it has paid already."""
        return Budget(self.budget_tokens, self.budget_usd, self.price_input_per_mtok, self.price_output_per_mtok,
                      spent_prompt, spent_completion)
