"""Per-task query instructions for the offline tasks, written in the E5 style.

E5-mistral is evaluated with a one-sentence task definition in front of every query
(``Instruct: {task}\\nQuery: {text}``) and nothing in front of documents (paper §4,
REFERENCE §3–4). Following microsoft/unilm's E5 evaluation code, the sentence says what the
input is and what to find or decide: retrieval reads "Given X, retrieve Y"; classification
"Classify ..."; clustering "Identify the topic ..."; symmetric tasks (STS, bitext) describe the
match, and there both sides count as queries because neither is a document.

Each task carries its instruction as ``TaskMetadata.prompt`` (retrieval: ``{"query": ...}``, so
documents stay bare; every other task: a plain string, applied to all of its inputs), which is
where mteb's instruction-aware wrappers look:

    from mteb.models.instruct_wrapper import InstructSentenceTransformerModel
    InstructSentenceTransformerModel(model_dir, revision=None,
        instruction_template=E5_QUERY_TEMPLATE, apply_instruction_to_passages=False)

>>> print(with_instruction("BibleRetrievalEnEs", "In the beginning, God created the heavens and the earth."))
Instruct: Given an English Bible verse, retrieve the Spanish verse that translates it
Query: In the beginning, God created the heavens and the earth.
"""

from __future__ import annotations

# The same format as tasks.train.text.format_query: what the model was trained with.
E5_QUERY_TEMPLATE = "Instruct: {instruction}\nQuery: "

TASK_INSTRUCTIONS: dict[str, str] = {
    # Bitext mining: either side may be the query, so the instruction names no direction.
    "BibleBitextMining": "Retrieve the Bible verse in the other language that is a translation of the given verse",
    "BibleRetrievalEnEs": "Given an English Bible verse, retrieve the Spanish verse that translates it",
    "BibleRetrievalEsEn": "Given a Spanish Bible verse, retrieve the English verse that translates it",
    "LeeDocumentSimilarity": "Retrieve news articles whose content is semantically similar to the given news article",
    "BBCNewsClassification": (
        "Classify the given BBC news article into its section: business, entertainment, politics, sport or technology"
    ),
    "BBCNewsClustering": "Identify the main topic of the given BBC news article",
}


def with_instruction(task_name: str, text: str) -> str:
    """``text`` as a query of ``task_name``, instruction in front (what an E5-style model sees)."""
    return E5_QUERY_TEMPLATE.format(instruction=TASK_INSTRUCTIONS[task_name]) + text
