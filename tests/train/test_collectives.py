"""Every collective of the training loop gets its tensor on the training device (NCCL takes CUDA tensors only).

No GPU here: the device check itself runs on the CPU, and the loop's code is read for bare
``torch.distributed`` calls that would bypass it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tasks.train.collectives import all_reduce_sum, count_tokens

TRAIN_CODE = Path(__file__).resolve().parents[2] / "tasks" / "train"
# The two modules allowed to call torch.distributed directly: each checks or owns its tensors' device.
COLLECTIVE_MODULES = {"collectives.py", "gather.py"}


def test_a_tensor_on_another_device_than_the_training_device_is_refused():
    with pytest.raises(ValueError, match="needs its tensor on cuda:0"):
        all_reduce_sum(torch.ones(1), torch.device("cuda", 0))


def test_token_counts_are_built_on_the_training_device():
    tokens = count_tokens([{"attention_mask": torch.ones(2, 3)}, {"attention_mask": torch.tensor([[0, 1]])}],
                          torch.device("cpu"))
    assert tokens.device.type == "cpu" and float(tokens) == 7.0
    # On any other device too (the meta device stands in for CUDA: no data, but a device of its own).
    assert count_tokens([{"attention_mask": torch.ones(2, 3)}], torch.device("meta")).device.type == "meta"


def test_no_training_module_calls_torch_distributed_collectives_directly():
    offenders = []
    for path in sorted(TRAIN_CODE.glob("*.py")):
        if path.name in COLLECTIVE_MODULES:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bdist\.(all_reduce|all_gather|broadcast|reduce_scatter|reduce)\(", line):
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "use tasks.train.collectives (device-checked):\n" + "\n".join(offenders)
