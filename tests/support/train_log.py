"""What the train command's output says, read back: the (step, loss) of each step it logged.

>>> logged_steps("12:00:01 - step 3/9 loss 2.5000 lr 1e-4\\nsomething else")
[(3, 2.5)]
"""

from __future__ import annotations


def logged_steps(output: str) -> list[tuple[int, float]]:
    """(step, loss) from the flow's per-step log lines."""
    found = []
    for line in output.splitlines():
        if " - step " in line and " loss " in line:
            words = line.split(" - step ", 1)[1].split()
            found.append((int(words[0].split("/")[0]), float(words[words.index("loss") + 1])))
    return found
