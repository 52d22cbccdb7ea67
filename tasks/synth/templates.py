"""Prompt templates: data, versioned, each with an id that is stored on every generated row.

Wording is ours; the structure (brainstorm a task list, then write one JSON example for a
sampled task, with the paper's placeholders) follows E5-mistral appendix C. Templates use
``string.Template`` (``${name}``) so literal JSON braces need no escaping.

>>> t = GENERATE[TaskType.STS][0]
>>> t.id
'sts.generate.v2'
>>> "${unit}" in t.text
True
>>> sorted(t.fields())[:3]
['difficulty', 'high_score', 'language']
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from tasks.synth.task_types import TASK_SPECS, TaskType


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt with ``${placeholder}`` fields and a stable id such as ``retrieval.generate.v1a``."""

    id: str
    text: str

    def fields(self) -> set[str]:
        """Placeholder names the template needs."""
        return {m.group("braced") for m in string.Template.pattern.finditer(self.text) if m.group("braced")}

    def render(self, values: dict[str, object]) -> str:
        """Fill every field; a missing value is a KeyError, never a silently empty prompt."""
        return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})


_JSON_ONLY = (
    "Answer with a single JSON object and nothing else: no explanation, no markdown. Be creative!"
)

_BRAINSTORM_TAIL = (
    'Answer with a JSON object of the form {"tasks": ["...", "...", ...]}: a list of about 20 '
    "plain strings, each a different task described in one sentence (not objects, not examples "
    "of inputs). Do not repeat the examples above. Output nothing else. Be creative!"
)

BRAINSTORM: dict[TaskType, list[PromptTemplate]] = {
    TaskType.RETRIEVAL: [
        PromptTemplate(
            "retrieval.brainstorm.v1a",
            "Think up a varied list of useful text retrieval tasks.\n"
            "For example:\n"
            "- Given a medical question, find passages from clinical guidelines that answer it.\n"
            "- Given the name of a historical event, find encyclopedia articles describing its causes.\n"
            "Guidelines:\n"
            "- Each task says what the query is and what kind of documents should be found.\n"
            "- A task should admit many different queries; do not make it too narrow.\n"
            + _BRAINSTORM_TAIL,
        ),
        PromptTemplate(
            "retrieval.brainstorm.v1b",
            "List text retrieval tasks where a short search query must be matched with a long "
            "document, from everyday life, science, law, commerce, hobbies and technology.\n"
            "Example: given a symptom a gardener describes, retrieve articles diagnosing plant diseases.\n"
            "Each task names the kind of query and the kind of document; keep tasks broad enough "
            "for many queries.\n" + _BRAINSTORM_TAIL,
        ),
    ],
    TaskType.CLASSIFICATION: [
        PromptTemplate(
            "classification.brainstorm.v1",
            "Think up a varied list of useful text classification tasks.\n"
            "For example:\n"
            "- Decide whether a product review is positive, negative or mixed.\n"
            "- Assign a news headline to its section: politics, sports, business or culture.\n"
            "Each task says what the input text is and what the labels are.\n" + _BRAINSTORM_TAIL,
        ),
    ],
    TaskType.SHORT_SHORT: [
        PromptTemplate(
            "short_short.brainstorm.v1",
            "Think up a varied list of text matching tasks where both texts are short (a few "
            "words to one sentence).\n"
            "For example:\n"
            "- Given a city name, find the country it is the capital of.\n"
            "- Given a slang expression, find its plain-language paraphrase.\n"
            "Each task says what the input text is and what the matching text is.\n"
            + _BRAINSTORM_TAIL,
        ),
    ],
    TaskType.LONG_LONG: [
        PromptTemplate(
            "long_long.brainstorm.v1",
            "Think up a varied list of text matching tasks where both texts are long documents.\n"
            "For example:\n"
            "- Given a research abstract, find a later paper that builds on it.\n"
            "- Given a patent description, find prior art describing the same invention.\n"
            "Each task says what the input document is and what the matching document is.\n"
            + _BRAINSTORM_TAIL,
        ),
    ],
}

GENERATE: dict[TaskType, list[PromptTemplate]] = {
    TaskType.RETRIEVAL: [
        PromptTemplate(
            "retrieval.generate.v2a",
            "Your retrieval task: ${task}\n"
            "Write one example for it as a JSON object with exactly these string keys:\n"
            '- "user_query": a search query a user could type for this task.\n'
            '- "positive_document": a document that answers the query well.\n'
            '- "hard_negative_document": a document that looks relevant to the query but is '
            "less useful or complete than the positive one.\n"
            "Guidelines:\n"
            "- The query is ${query_type}, ${query_length}, ${clarity}, and on a specific topic.\n"
            "- Write the documents as if the query did not exist: do not copy it into them.\n"
            "- Each document has about ${num_words} words.\n"
            "- Everything is written in ${language}${script_note}.\n"
            "- Readers need ${difficulty} level education to follow the texts.\n"
            "- Never explain why a document is or is not relevant.\n" + _JSON_ONLY,
        ),
        PromptTemplate(
            "retrieval.generate.v2b",
            "Task: ${task}\n"
            "Create a realistic search scenario for this task. Return a JSON object with:\n"
            '"user_query" (the user\'s search, ${query_length}, ${clarity}, a ${query_type} query), '
            '"positive_document" (about ${num_words} words that fully satisfy the query) and '
            '"hard_negative_document" (about ${num_words} words on a neighbouring subject that '
            "shares words with the query but does not answer it).\n"
            "Write all three in ${language}${script_note}, at a ${difficulty} reading level, with no comments "
            "about relevance.\n" + _JSON_ONLY,
        ),
    ],
    TaskType.CLASSIFICATION: [
        PromptTemplate(
            "classification.generate.v2a",
            "Your classification task: ${task}\n"
            "Write one example for it as a JSON object with exactly these string keys:\n"
            '- "input_text": a text of ${num_words} words to be classified.\n'
            '- "label": the correct label for the text, as the task defines labels.\n'
            '- "misleading_label": a label that is valid for the task but wrong for this text.\n'
            "Guidelines:\n"
            '- "input_text" is ${clarity} and on a specific topic; it needs ${difficulty} level '
            "education to understand.\n"
            "- Everything is written in ${language}${script_note}.\n" + _JSON_ONLY,
        ),
        PromptTemplate(
            "classification.generate.v2b",
            "Classification task: ${task}\n"
            "Produce a labelled example as a JSON object with \"input_text\" (${num_words} words, "
            "${clarity}, ${difficulty} level), \"label\" (the right class) and "
            '"misleading_label" (a plausible but wrong class from the same label set). '
            "Write in ${language}${script_note}.\n" + _JSON_ONLY,
        ),
    ],
    TaskType.SHORT_SHORT: [
        PromptTemplate(
            "short_short.generate.v2",
            "Your text matching task: ${task}\n"
            "Write one example as a JSON object with exactly these string keys:\n"
            '- "input": a short input text for the task (a few words to one sentence).\n'
            '- "positive_document": a short text that matches the input as the task defines.\n'
            "Both texts are short, specific, written in ${language}${script_note}, and do not copy each other.\n"
            + _JSON_ONLY,
        ),
    ],
    TaskType.LONG_LONG: [
        PromptTemplate(
            "long_long.generate.v2",
            "Your text matching task: ${task}\n"
            "Write one example as a JSON object with exactly these string keys:\n"
            '- "input": a long input document for the task, at least ${min_words} words.\n'
            '- "positive_document": a long document, at least ${min_words} words, that matches the '
            "input as the task defines.\n"
            "Both are written in ${language}${script_note}, specific and detailed, and do not copy each other.\n"
            + _JSON_ONLY,
        ),
    ],
    TaskType.STS: [
        PromptTemplate(
            "sts.generate.v2",
            "Write a ${unit} triple with different semantic similarity scores (1 to 5) as a JSON "
            "object with exactly these string keys:\n"
            '- "S1": a ${unit}, at least 10 words long.\n'
            '- "S2": a ${unit} with a similarity score of ${high_score} to S1.\n'
            '- "S3": a ${unit} with a similarity score of ${low_score} to S1.\n'
            "All three are in ${language}${script_note}, need ${difficulty} level education to understand, "
            "and cover a specific topic.\n" + _JSON_ONLY,
        ),
    ],
    TaskType.BITEXT: [
        PromptTemplate(
            "bitext.generate.v2",
            "Write a ${unit} triple for translation retrieval as a JSON object with exactly these "
            "string keys:\n"
            '- "S1": a ${unit} in ${src_lang}${src_script_note}, at least 10 words long.\n'
            '- "S2": a ${unit} in ${tgt_lang}${tgt_script_note}, a translation of S1 with similarity score '
            "${high_score} (1 to 5).\n"
            '- "S3": a ${unit} in ${tgt_lang}${tgt_script_note} with similarity score ${low_score} to S1: fluent, '
            "but with wrong keywords or numbers, or with parts left out or added.\n"
            "The texts need ${difficulty} level education to understand and cover a specific "
            "topic.\n" + _JSON_ONLY,
        ),
    ],
}


def template_set_id() -> str:
    """A fingerprint of every template's id and text: a changed prompt is a different run.

    >>> len(template_set_id())
    12
    """
    import hashlib

    texts = [f"{t.id}\n{t.text}" for group in (BRAINSTORM, GENERATE) for ts in group.values() for t in ts]
    return hashlib.sha256("\n\n".join(sorted(texts)).encode()).hexdigest()[:12]


def placeholder_names() -> set[str]:
    """Every placeholder a template uses, and every output key: what an answer must not echo back.

    >>> {"num_words", "language", "task", "positive_document"} <= placeholder_names()
    True
    """
    names = {name for group in (BRAINSTORM, GENERATE) for ts in group.values() for t in ts for name in t.fields()}
    return names | {key for spec in TASK_SPECS.values() for key in spec.output_keys}
