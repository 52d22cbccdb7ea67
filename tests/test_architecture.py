"""The house's rules, kept by tests: import contracts (pyproject.toml, import-linter) and module size.

The contracts say what may import what (README, "Layout"): flows on the pipeline, on the stages,
on the capabilities they share, on storage and the ground floor; logic never imports flows or
services; training knows no prompts; storage knows no stage; no import cycles.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flows", "tasks", "infra")
MAX_MODULE_LINES = 400


def lint_imports(tree: Path, contract: str | None = None) -> subprocess.CompletedProcess:
    """``lint-imports`` over the packages in ``tree``, all contracts or the one with id ``contract``
    (a fresh process: it imports nothing of ours)."""
    command = [Path(sys.executable).with_name("lint-imports"), "--no-cache", *(["--contract", contract] if contract else [])]
    return subprocess.run(command, cwd=tree, text=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(tree)},
                          timeout=120)


def test_every_import_contract_is_kept():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout and "6 kept" in run.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The packages and the contracts, copied: a planted import must not touch the working tree."""
    tree = tmp_path_factory.mktemp("house")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.mark.parametrize("path, text, contract", [
    ("tasks/storage/planted.py", "import tasks.synth.config\n", "storage-knows-no-stage"),
    ("tasks/train/planted.py", "import tasks.synth.templates\n", "training-knows-no-prompts"),
    ("tasks/runs/planted.py", "import infra.services.llama\n", "logic-never-imports-flows-or-services"),
    ("tasks/common/planted.py", "import tasks.runs.manifest\n", "layers"),
    ("tasks/clean/planted.py", "import tasks.train.loop\n", "layers"),  # siblings in a layer are independent
    ("tasks/llm/requests.py", "import tasks.llm.caller\n", "no-cycles"),
    ("flows/cli/train.py", "import infra.services.seaweedfs\n", "one-seam-to-services"),  # caller imports requests: a circle
])
def test_a_wrong_arrow_breaks_its_contract(tree_copy, path, text, contract):
    """The contracts can fail: one import planted in a copy of the tree (a new module, or a line added
    to an existing one) is caught by the contract it breaks."""
    planted = tree_copy / path
    original = planted.read_text() if planted.exists() else None
    planted.write_text((original or "") + text)
    try:
        run = lint_imports(tree_copy, contract)
    finally:
        planted.unlink() if original is None else planted.write_text(original)
    assert run.returncode != 0 and "1 broken" in run.stdout, run.stdout[-3000:]
    assert lint_imports(tree_copy, contract).returncode == 0, "the copy breaks the contract without the planted import"


def test_no_module_is_past_the_size_limit():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for folder in ("tasks", "flows") for p in (ROOT / folder).rglob("*.py")}
    assert len(sizes) > 50, "the modules were not found"
    assert {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES} == {}
