"""Upload the trained model folder (``{out}/model``) to the Hugging Face hub as a model repository.

    synthembed train --data ... --out s3://bucket/models/m1 --push-to-hub OWNER/NAME   # token: $HF_TOKEN

The upload itself is :func:`tasks.common.hub.push_folder`, shared with the dataset export:
token from ``HF_TOKEN`` only, one commit, one-line :class:`~tasks.common.hub.HubUnavailable`
errors. It runs after the model and its card are in the store, so an offline, unreachable or
refusing hub leaves the stored model as it is. A model in object storage is downloaded to the
local cache first (the hub uploads local files); that copy is kept, so the "upload it later"
command in the error works.
"""

from __future__ import annotations

from tasks.common.hub import push_folder
from tasks.common.settings import Settings
from tasks.storage.store import local_copy  # file:// is used in place, s3:// fetched once


def push_model(model_url: str, repo_id: str, private: bool = False) -> str:
    """Upload the exported model folder at ``model_url`` to hub model ``repo_id``; return its URL.

    Raises HubUnavailable (the stored model untouched) when the hub cannot be reached or refuses.
    """
    folder = local_copy(model_url, Settings().cache)
    return push_folder(folder, repo_id, private, repo_type="model", commit_message="synthembed train")
