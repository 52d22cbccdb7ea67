"""Put the trained model into the store: ``{out}/adapter`` (LoRA alone) and ``{out}/model``
(merged weights + tokenizer + sentence-transformers configuration).

Each folder is written locally first and uploaded whole; ``{out}/model/`` is uploaded last
so its presence means the export is complete.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tasks.storage.store import open_store
from tasks.train.config import TrainConfig
from tasks.train.merge import export_sentence_transformer, save_adapter


def upload_folder(local: Path, out_url: str, name: str) -> str:
    """Copy a local folder to ``{out_url}/{name}``; return its URL."""
    store = open_store(out_url)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        store.write_bytes(store.path(name, str(path.relative_to(local))), path.read_bytes())
    return store.url(name)


def publish_model(model, tokenizer, config: TrainConfig) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        adapter, merged = Path(tmp, "adapter"), Path(tmp, "model")
        save_adapter(model, adapter)  # before merging: merge folds the adapter into the base
        export_sentence_transformer(model, tokenizer, merged, query_instruction=config.query_instruction,
                                    max_length=config.max_length)
        (merged / "synthembed_train_config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
        return {"adapter": upload_folder(adapter, config.out, "adapter"), "model": upload_folder(merged, config.out, "model")}
