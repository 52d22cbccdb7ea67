"""The training check of ``tests/gpu/run.sh``: prepare a base model and pairs, then check the export.

Nothing is downloaded: the base model has random weights (Mistral-shaped: 8 layers of width 1024
on a GPU, 2 of width 64 on the CPU) and the tokenizer is trained here (:mod:`tests.train.tiny`).
Between the two commands, ``run.sh`` trains it with ``torchrun -m tasks.train.standalone``
(3 steps, then resumed to 4), which publishes ``{work}/out/model`` and ``{work}/out/adapter``.

    python tests/gpu/train_check.py prepare --work DIR [--cpu] [--workers N]
    python tests/gpu/train_check.py reload --work DIR [--cpu]

``reload`` loads the published folder with plain sentence-transformers and the base model with
the published adapter (peft): both must embed queries and documents alike, and as unit vectors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

TASK = "Given a question, retrieve the passage that answers it"
SIZES = {  # model shape and training sizes
    "gpu": dict(model=dict(hidden_size=1024, intermediate_size=3584, num_hidden_layers=8, num_attention_heads=16,
                           num_key_value_heads=4),
                train=dict(batch_size=32, mini_batch_size=8, max_length=128, use_gpu=True, bf16=True,
                           gradient_checkpointing=True)),
    "cpu": dict(model=dict(hidden_size=64, intermediate_size=224, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=1),
                train=dict(batch_size=8, mini_batch_size=2, max_length=48, use_gpu=False)),
}
QUERIES = ["question 3 about topic 3", "what is the capital of Peru"]
DOCUMENTS = ["passage 3 " * 8, "Lima is the capital and largest city of Peru.", "unrelated text 5 " * 4]


def prepare(work: Path, mode: str, workers: int) -> None:
    import torch
    from transformers import AutoModel, MistralConfig

    from tasks.train.data import Pair
    from tasks.train.standalone import write_pairs
    from tasks.train.text import format_query
    from tests.train.tiny import make_tokenizer

    work.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer()
    torch.manual_seed(0)
    config = MistralConfig(vocab_size=len(tokenizer), max_position_embeddings=4096, **SIZES[mode]["model"])
    base = AutoModel.from_config(config)
    base.save_pretrained(work / "base")
    tokenizer.save_pretrained(work / "base")
    pairs = [Pair(format_query(TASK, f"question {i} about topic {i % 7}"), f"passage {i} " * (5 + i % 40),
                  f"unrelated text {i} " * (3 + i % 20), "retrieval") for i in range(96)]
    write_pairs(pairs, work / "pairs.jsonl")
    run = dict(data=[(work / "pairs.jsonl").as_uri()], base_model=str(work / "base"), out=(work / "out").as_uri(),
               steps=3, warmup_steps=1, learning_rate=1e-3, lora_rank=8, lora_alpha=16, checkpoint_every=1,
               num_workers=workers, query_instruction=TASK, **SIZES[mode]["train"])
    (work / "run.json").write_text(json.dumps(run, indent=2))
    (work / "resume.json").write_text(json.dumps({**run, "steps": 4, "extend_steps": True}, indent=2))
    print(json.dumps({"check": "prepare", "parameters": sum(p.numel() for p in base.parameters()), "pairs": len(pairs)}))


def reload(work: Path, mode: str) -> None:
    import torch
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    from tasks.train.model import EmbeddingModel
    from tasks.train.text import format_query

    device = "cuda" if mode == "gpu" else "cpu"
    run = json.loads((work / "resume.json").read_text())
    st = SentenceTransformer(str(work / "out" / "model"), device=device, local_files_only=True)
    exported = torch.cat([st.encode(QUERIES, prompt_name="query", convert_to_tensor=True),
                          st.encode(DOCUMENTS, convert_to_tensor=True)]).float().cpu()

    tokenizer = AutoTokenizer.from_pretrained(work / "base")
    dtype = torch.bfloat16 if mode == "gpu" else torch.float32
    base = AutoModel.from_pretrained(work / "base", dtype=dtype).to(device)
    model = EmbeddingModel(PeftModel.from_pretrained(base, str(work / "out" / "adapter"))).eval()
    queries = [format_query(TASK, q) for q in QUERIES]
    trained = torch.cat([model.encode(queries, tokenizer, max_length=run["max_length"]),
                         model.encode(DOCUMENTS, tokenizer, max_length=run["max_length"])])
    worst = float(torch.nn.functional.cosine_similarity(exported, trained, dim=1).min())
    norms = exported.norm(dim=1)
    ok = worst > (0.99 if mode == "gpu" else 0.9999) and bool(((norms - 1).abs() < 1e-3).all())
    print(json.dumps({"check": "reload", "device": device, "dim": exported.shape[1], "worst_cosine": round(worst, 6),
                      "ok": ok}))
    if not ok:
        raise SystemExit("the published folder does not embed as the base model with the published adapter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["prepare", "reload"])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    mode = "cpu" if args.cpu else "gpu"
    if args.command == "prepare":
        prepare(args.work, mode, args.workers)
    else:
        reload(args.work, mode)


if __name__ == "__main__":
    main()
