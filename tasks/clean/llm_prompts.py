"""The cleaning stage's prompts to the LLM, as data: the judge's rating and the relabeler's choice.

Each template has a versioned id, reported in its filter entry (``details.template``). Changing the
wording makes a new id and, being a new prompt, new ledger keys: the rows are asked again.

>>> row = {"task_type": "bitext", "task": "Retrieve the translation.", "query": "Good morning",
...        "positive": "Buenos días", "negative": None}
>>> prompt = judge_prompt(row)
>>> "Positive: Buenos días" in prompt and "Negative:" not in prompt and '"score"' in prompt
True
>>> "[2] Buenas noches" in relabel_prompt(row, ["Buenos días", "Buenas noches"])
True
"""

from __future__ import annotations

from tasks.runs.schema import TASK_COLUMNS

MAX_TEXT_CHARS = 4000  # a text longer than this (~700 words) is cut: enough to judge, bounded in cost

JUDGE_ID = "judge.v1"
JUDGE_TEMPLATE = """You review one training example for a text embedding model, against the task it was written for.

Task type: {task_type}
Task: {task}
The query is {query_role}; the positive must be {positive_role}{negative_clause}.

Query: {query}
Positive: {positive}{negative_line}

Rate the example from 1 to 5 for relevance and correctness:
5 = the positive is exactly what the task asks for this query{negative_rule};
4 = good, with small flaws;
3 = acceptable but weak;
2 = mostly wrong: the positive barely fits the query or the task;
1 = wrong: unrelated, not what the task asks (not a translation, an answer instead of a paraphrase, \
an invented fact), or not meaningful text.
Answer only with a JSON object: {{"score": <integer from 1 to 5>, "reason": "<one short sentence>"}}"""

RELABEL_ID = "relabel.v1"
RELABEL_TEMPLATE = """You choose the best positive for a query, for training a text embedding model.

Task: {task}
The query is {query_role}; the positive must be {positive_role}.

Query: {query}

Candidates:
{candidates}

Which candidate is the best positive for this query under the task? And which candidates are relevant to the \
query at all?
Answer only with a JSON object: {{"best": <the best candidate's number>, "relevant": [<the numbers of every \
relevant candidate>]}}"""


def cut(text: str) -> str:
    """``text``, cut to :data:`MAX_TEXT_CHARS` characters (marked with …)."""
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "…"


def _roles(task_type: str) -> tuple[str, str, str]:
    return TASK_COLUMNS.get(task_type, ("the query", "the text that matches it", "a text that does not"))


def judge_prompt(row: dict) -> str:
    """The judge's question about one row (``task_type``, ``task``, ``query``, ``positive``, ``negative``)."""
    query_role, positive_role, negative_role = _roles(row["task_type"])
    has_negative = row.get("negative") is not None
    return JUDGE_TEMPLATE.format(
        task_type=row["task_type"], task=row["task"], query_role=query_role, positive_role=positive_role,
        negative_clause=f", and the negative {negative_role}" if has_negative else "",
        query=cut(row["query"]), positive=cut(row["positive"]),
        negative_line=f"\nNegative: {cut(row['negative'])}" if has_negative else "",
        negative_rule=", and the negative is related to it but clearly worse" if has_negative else "")


def relabel_prompt(row: dict, candidates: list[str]) -> str:
    """The relabeler's question: which of ``candidates`` (numbered from 1) is ``row``'s best positive."""
    query_role, positive_role, _ = _roles(row["task_type"])
    numbered = "\n".join(f"[{i}] {cut(text)}" for i, text in enumerate(candidates, start=1))
    return RELABEL_TEMPLATE.format(task=row["task"], query_role=query_role, positive_role=positive_role,
                                   query=cut(row["query"]), candidates=numbered)
