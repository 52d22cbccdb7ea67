"""Secrets come from the environment or from Prefect Secret blocks, never from parameters.

Parameters are stored by Prefect (flow-run records, deployments, the UI), and manifests and
logs are kept: so an API key or S3 credential is only ever read here, at the point of use.

* ``SYNTHEMBED_LLM_API_KEY`` or ``OPENAI_API_KEY``; else ``SYNTHEMBED_LLM_API_KEY_BLOCK`` names a
  Prefect ``Secret`` block holding the key.
* ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``; else ``SYNTHEMBED_S3_CREDENTIALS_BLOCK``
  names a ``Secret`` block holding ``{"access_key_id": ..., "secret_access_key": ...}``.

Both are also settings (:mod:`tasks.common.settings`), so ``synthembed.toml`` may name the blocks.
"""

from __future__ import annotations

import os

S3_BLOCK_ENV = "SYNTHEMBED_S3_CREDENTIALS_BLOCK"


class SecretUnavailable(RuntimeError):
    """A secret block was named but cannot be read."""


def load_secret_block(name: str):
    """The value of the Prefect ``Secret`` block ``name`` (a string or a JSON object)."""
    from prefect.blocks.system import Secret  # only needed when a block is configured

    try:
        return Secret.load(name, _sync=True).get()
    except Exception as exc:  # missing block, unreachable API: one clear message
        raise SecretUnavailable(f"cannot read Prefect Secret block {name!r}: {type(exc).__name__}") from None


def llm_api_key() -> str | None:
    """The LLM API key (None for local servers that need none)."""
    from tasks.common.settings import Settings

    settings = Settings()
    if settings.llm_api_key is not None:
        return settings.llm_api_key.get_secret_value()
    if os.environ.get("OPENAI_API_KEY"):
        return os.environ["OPENAI_API_KEY"]
    return load_secret_block(settings.llm_api_key_block) if settings.llm_api_key_block else None


def s3_credentials() -> dict[str, str] | None:
    """Explicit S3 credentials from a Secret block, or None to let boto read the environment."""
    from tasks.common.settings import Settings

    block = Settings().s3_credentials_block
    if os.environ.get("AWS_ACCESS_KEY_ID") or not block:
        return None
    value = load_secret_block(block)
    if not isinstance(value, dict) or not {"access_key_id", "secret_access_key"} <= set(value):
        raise SecretUnavailable(f"Secret block {block!r} must hold access_key_id and secret_access_key")
    return {"key": value["access_key_id"], "secret": value["secret_access_key"]}
