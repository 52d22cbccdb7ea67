"""Put the trained model into the store: ``{out}/adapter`` (LoRA alone) and ``{out}/model``
(merged weights + tokenizer + sentence-transformers configuration).

Each folder is written locally first and uploaded file by file, streamed (a 7B model's
weights never sit in memory whole); ``{out}/model/`` is uploaded last so its presence means
the export is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from tasks.storage.store import Store, open_store
from tasks.train.config import TrainConfig
from tasks.train.merge import export_sentence_transformer, save_adapter


def upload_file(store: Store, local: Path, target: str) -> None:
    """Copy one file into the store, streamed; readers see the whole file or none of it.

    Local: copied beside the target, then renamed over it. Object stores: one PUT or multipart
    upload, visible only when complete, retried through a blip as the store's own writes are.
    """
    if isinstance(store.fs, LocalFileSystem):
        destination = Path(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.partial")
        try:
            shutil.copyfile(local, partial)
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)
    else:
        store._retrying(store.fs.put_file, str(local), target)


def upload_folder(local: Path, out_url: str, name: str) -> str:
    """Copy a local folder to ``{out_url}/{name}``, file by file; return its URL."""
    store = open_store(out_url)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        upload_file(store, path, store.path(name, str(path.relative_to(local))))
    return store.url(name)


def publish_model(model, tokenizer, config: TrainConfig) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        adapter, merged = Path(tmp, "adapter"), Path(tmp, "model")
        save_adapter(model, adapter)  # before merging: merge folds the adapter into the base
        export_sentence_transformer(model, tokenizer, merged, query_instruction=config.query_instruction,
                                    max_length=config.max_length)
        (merged / "synthembed_train_config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
        return {"adapter": upload_folder(adapter, config.out, "adapter"), "model": upload_folder(merged, config.out, "model")}
