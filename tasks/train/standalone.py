"""Train without Ray: the same loop in one process, or one process per GPU under ``torchrun``.

Ray Train is how users train (``synthembed train``, :mod:`tasks.train.launch`). This driver is
for machines that have torch, transformers, peft and sentence-transformers but no Ray, Prefect or
polars (the lent GPU machines): it runs :func:`tasks.train.loop.train_loop` through a
:class:`tasks.train.session.ProcessGroupSession`, on pairs from a JSON-lines file when polars is
absent, and publishes the model to ``{out}/adapter`` and ``{out}/model`` as a Ray run does.

    torchrun --standalone --nproc_per_node 1 -m tasks.train.standalone --config run.json --pairs pairs.jsonl
    python -m tasks.train.standalone --config run.json          # one process; data from config["data"]

``run.json`` holds :class:`tasks.train.config.TrainConfig` fields (``num_workers`` = processes).
Checkpoints: ``--checkpoint-dir``, default ``{out}/torch`` for a ``file://`` out. A second run
with the same checkpoint folder resumes from its newest checkpoint; as with ``synthembed train
--resume`` it may change only what does not change the result (``steps`` only upwards, with
``extend_steps``). Pairs file: one JSON object a line with ``query`` (formatted, instruction
included), ``positive``, ``negative`` (or null) and optionally ``task_type``.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from tasks.train.config import TrainConfig
from tasks.train.data import Pair

# As the Ray launcher's (tasks.train.launch.COLLECTIVE_TIMEOUT_S): the first collective waits for
# the slowest process to load (or download) the base model.
COLLECTIVE_TIMEOUT = timedelta(hours=3)


def write_pairs(pairs: list[Pair], path: str | Path) -> Path:
    """Write ``pairs`` as JSON lines (what ``--pairs`` reads)."""
    path = Path(path)
    path.write_text("".join(json.dumps(asdict(pair)) + "\n" for pair in pairs))
    return path


def read_pairs(path: str | Path) -> list[Pair]:
    pairs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if not row.get("query") or not row.get("positive"):
                raise ValueError(f"{path}:{number}: a pair needs a query and a positive")
            pairs.append(Pair.from_dict(row))  # "negatives", or the one "negative" older files hold
    if not pairs:
        raise ValueError(f"{path} holds no pairs")
    return pairs


def default_checkpoint_dir(out_url: str) -> Path:
    if not out_url.startswith("file://"):
        raise ValueError(f"--checkpoint-dir is needed for an out that is not a local folder ({out_url})")
    return Path(out_url.removeprefix("file://")) / "torch"


def check_resume(checkpoint: Path | None, config: TrainConfig) -> None:
    """Refuse a resume that would change what is trained (as the Ray path's preflight does)."""
    from tasks.train.checkpoint import CONFIG_FILE
    from tasks.train.resume import compare_configs

    if checkpoint is not None and (checkpoint / CONFIG_FILE).is_file():
        stored = json.loads((checkpoint / CONFIG_FILE).read_text())
        compare_configs(stored, config, extend_steps=config.extend_steps)


def init_process_group(use_gpu: bool) -> bool:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); True when this call made one."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    dist.init_process_group("nccl" if use_gpu else "gloo", timeout=COLLECTIVE_TIMEOUT)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="JSON file of TrainConfig fields")
    parser.add_argument("--pairs", help="JSON-lines training pairs (instead of reading config['data'] with polars)")
    parser.add_argument("--checkpoint-dir", help="default: {out}/torch for a file:// out")
    args = parser.parse_args(argv)

    from tasks.train.base_model import resolve_base_model
    from tasks.train.loop import train_loop
    from tasks.train.session import ProcessGroupSession

    values = json.loads(Path(args.config).read_text())
    if args.pairs and not values.get("data"):
        values["data"] = [Path(args.pairs).resolve().as_uri()]
    config = TrainConfig(**values).validate()
    pairs = read_pairs(args.pairs) if args.pairs else None
    made_group = init_process_group(config.use_gpu)
    try:
        session = ProcessGroupSession(args.checkpoint_dir or default_checkpoint_dir(config.out),
                                      use_gpu=config.use_gpu, keep=config.keep_checkpoints)
        if session.world_size != config.num_workers:
            raise ValueError(f"num_workers is {config.num_workers} but {session.world_size} processes run")
        latest = session.checkpoints()
        check_resume(latest[0] if latest else None, config)
        base_path = resolve_base_model(config.base_model)
        train_loop({**config.to_dict(), "_base_path": base_path}, session, pairs)
    finally:
        if made_group:
            import torch.distributed as dist

            dist.destroy_process_group()


if __name__ == "__main__":
    main()
