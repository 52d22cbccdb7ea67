"""Every offline task has an E5-style instruction, and mteb's instruction path finds it."""

from __future__ import annotations

import pytest
from mteb.types import PromptType

from tasks.benchmarks.instructions import E5_QUERY_TEMPLATE, TASK_INSTRUCTIONS, with_instruction
from tasks.benchmarks.mteb_tasks import offline_tasks
from tasks.evaluate.encoders import RandomEncoder
from tasks.train.text import format_query


def test_one_instruction_per_task_and_no_other():
    assert set(TASK_INSTRUCTIONS) == {task.metadata.name for task in offline_tasks()}
    for instruction in TASK_INSTRUCTIONS.values():
        assert instruction[0].isupper() and not instruction.endswith(".")
        assert instruction.startswith(("Given ", "Retrieve ", "Classify ", "Identify "))


def test_template_matches_the_training_format():
    assert with_instruction("BBCNewsClustering", "text") == format_query(TASK_INSTRUCTIONS["BBCNewsClustering"], "text")


@pytest.mark.parametrize("task", offline_tasks(), ids=lambda task: task.metadata.name)
def test_instruction_aware_wrappers_read_it_from_the_task_metadata(task):
    # mteb's InstructSentenceTransformerModel resolves instructions through AbsEncoder, as here.
    encoder = RandomEncoder()
    encoder.instruction_template = E5_QUERY_TEMPLATE
    expected = E5_QUERY_TEMPLATE.format(instruction=TASK_INSTRUCTIONS[task.metadata.name])
    assert encoder.get_task_instruction(task.metadata, PromptType.query) == expected
    if task.metadata.type == "Retrieval":  # documents carry no instruction
        assert encoder.get_task_instruction(task.metadata, PromptType.document) == ""
