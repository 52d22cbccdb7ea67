"""Make the packages named in ``SYNTHEMBED_BLOCK_IMPORTS`` (comma-separated) look uninstalled.

On ``PYTHONPATH``, Python imports this at start-up (every process: torchrun's workers too).
``sys.modules[name] = None`` is Python's own way to say a module is absent: ``import ray``
raises ModuleNotFoundError and ``importlib.util.find_spec("ray")`` returns None, as on the lent
GPU machines, which have no ray, prefect, polars, mteb or openai (tests/gpu/run.sh sets it).
"""

import os
import sys

for _name in filter(None, (n.strip() for n in os.environ.get("SYNTHEMBED_BLOCK_IMPORTS", "").split(","))):
    if _name not in sys.modules or sys.modules[_name] is None:
        sys.modules[_name] = None
