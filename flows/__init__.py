"""Prefect flows and the command line: where the logic of ``tasks`` is put to work.

* ``synthesize``, ``retry``, ``train``, ``evaluate``, ``pipeline``: the Prefect flows (and
  deployments, prefect.yaml); thin tasks around ``tasks``, named after their run in the UI.
* ``clean``, ``export``: plain functions (one local step each, nothing to retry, no Prefect server).
* ``runs``: finding a run by id; ``services``: the one seam to ``infra.services`` (the embedded LLM).
* ``cli``: the ``synthembed`` command, one module per command group.
"""
