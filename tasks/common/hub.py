"""Upload a finished folder to the Hugging Face hub: a dataset (``synthembed export``) or a model
(``synthembed train --push-to-hub``).

The token comes from the ``HF_TOKEN`` environment variable only (not a flag, so it stays out
of shell history and process lists; not huggingface_hub's cached login, so what is used is
explicit) and is never printed. The folder is written before any upload, so a hub that is
offline, unreachable or refusing leaves a complete export and one line saying how to upload
it later.

>>> check_repo_id("someone/synthetic-e5")
'someone/synthetic-e5'
>>> check_repo_id("not a repo")
Traceback (most recent call last):
...
ValueError: --push-to-hub 'not a repo' is not a hub repository id: use NAME or OWNER/NAME (letters, digits, -, _, .)
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

TOKEN_ENV = "HF_TOKEN"


class HubUnavailable(RuntimeError):
    """The upload did not happen (offline, unreachable, refused); the local folder is complete."""


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if the hub could accept it as a repository name, else ValueError (before any export work)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise ValueError(f"--push-to-hub {repo_id!r} is not a hub repository id: use NAME or OWNER/NAME "
                         "(letters, digits, -, _, .)") from None
    return repo_id


def upload_later(folder: Path, repo_id: str, private: bool, repo_type: str = "dataset") -> str:
    """The command that uploads the folder by hand."""
    command = ["hf", "upload", repo_id, str(folder), ".", "--repo-type", repo_type] + (["--private"] if private else [])
    return shlex.join(command)


def push_folder(folder: Path, repo_id: str, private: bool = False, repo_type: str = "dataset",
                commit_message: str = "synthembed export") -> str:
    """Create the repository (``repo_type`` "dataset" or "model") if needed and upload ``folder`` in one
    commit; return its URL.

    Raises HubUnavailable with one line: why, where the folder is, and how to upload it later.
    """
    import huggingface_hub.constants
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    command = upload_later(folder, repo_id, private, repo_type)
    later = f"the {repo_type} folder is complete at {folder}; upload it later with: {command}"
    offline = f"cannot push to the Hugging Face hub: offline mode is on (HF_HUB_OFFLINE=1); {later}"
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        raise HubUnavailable(offline)
    api = HfApi(token=os.environ.get(TOKEN_ENV) or False)  # False: never a cached login
    try:
        repo = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo.repo_id, folder_path=folder, repo_type=repo_type,
                          commit_message=commit_message)
    except OfflineModeIsEnabled:
        raise HubUnavailable(offline) from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        hint = (f" (set {TOKEN_ENV} to a token with write access to {repo_id})" if status in (401, 403) else "")
        raise HubUnavailable(f"the Hugging Face hub refused the upload: HTTP {status}{hint}; {later}") from None
    except Exception as exc:  # httpx / OS errors: DNS, refused connection, timeout
        raise HubUnavailable(f"cannot reach the Hugging Face hub ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}); {later}") from None
    return repo.url
