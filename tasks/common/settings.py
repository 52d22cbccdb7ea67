"""One typed settings object for the CLI, flows and deployments: environment + optional TOML file.

Precedence: command-line flags > ``SYNTHEMBED_*`` environment variables > the TOML file
(``SYNTHEMBED_CONFIG``, default ``./synthembed.toml``) > defaults. Secrets are ``SecretStr``:
they print as ``**********`` and never appear in ``synthembed config show``.

Example ``synthembed.toml``::

    store = "s3://my-bucket/synthembed"
    llm_base_url = "https://api.openai.com/v1"
    llm_model = "gpt-4o-mini"

>>> s = Settings(llm_api_key="sk-secret")
>>> "sk-secret" in str(s.masked())
False
"""

from __future__ import annotations

import os
from difflib import get_close_matches
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from tasks.common.cache import cache_root


def config_file() -> Path:
    return Path(os.environ.get("SYNTHEMBED_CONFIG", "synthembed.toml"))


class Settings(BaseSettings):
    """Where things are and how to reach them; the same object everywhere."""

    model_config = SettingsConfigDict(env_prefix="SYNTHEMBED_", extra="ignore")

    store: str = Field("file://./data", description="default store URL (file:// or s3://)")
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None: the embedded llama.cpp server")
    llm_model: str | None = Field(None, description="model name on llm_base_url")
    llm_api_key: SecretStr | None = Field(None, description="API key (also OPENAI_API_KEY)")
    llm_api_key_block: str | None = Field(None, description="Prefect Secret block holding the API key")
    s3_endpoint_url: str | None = Field(None, description="non-AWS S3 endpoint (SeaweedFS, MinIO)")
    s3_credentials_block: str | None = Field(None, description="Prefect Secret block with S3 keys")
    ray_address: str | None = Field(None, description="Ray cluster to join; None: a local Ray on 127.0.0.1")
    cache: Path = Field(default_factory=cache_root, description="models, wheels, evaluation data")

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, data):
        """A typo in synthembed.toml (``stor = …``) is an error naming it, not a silently ignored key."""
        if isinstance(data, dict) and (unknown := sorted(set(data) - set(cls.model_fields))):
            hints = [f"{key!r}" + (f" (did you mean {close[0]!r}?)" if (close := get_close_matches(key, cls.model_fields, 1))
                                   else "") for key in unknown]
            raise ValueError(f"unknown setting(s) {', '.join(hints)}; known: {', '.join(cls.model_fields)}")
        return data

    @field_validator("cache", mode="before")
    @classmethod
    def _empty_cache_is_default(cls, value):
        return value or cache_root()  # SYNTHEMBED_CACHE= means the default, as everywhere else

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return init_settings, env_settings, toml

    def masked(self) -> dict:
        """Every setting with secrets masked, plus where the file was looked for."""
        shown = {k: ("**********" if isinstance(v, SecretStr) else v) for k, v in self}
        shown["aws_access_key_id"] = "**********" if os.environ.get("AWS_ACCESS_KEY_ID") else None
        shown["aws_secret_access_key"] = "**********" if os.environ.get("AWS_SECRET_ACCESS_KEY") else None
        shown["openai_api_key"] = "**********" if os.environ.get("OPENAI_API_KEY") else None
        shown["config_file"] = f"{config_file()} ({'found' if config_file().exists() else 'absent'})"
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in shown.items()}
