"""One settings object: TOML file < environment < flags; secrets masked everywhere they are shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tasks.common.settings import Settings

SYNTHEMBED = str(Path(sys.executable).parent / "synthembed")


def test_toml_then_environment_precedence(tmp_path, monkeypatch):
    config = tmp_path / "synthembed.toml"
    config.write_text('store = "s3://from-toml/x"\nllm_model = "toml-model"\nray_address = "ray://head:10001"\n')
    monkeypatch.setenv("SYNTHEMBED_CONFIG", str(config))
    monkeypatch.setenv("SYNTHEMBED_LLM_MODEL", "env-model")
    settings = Settings()
    assert settings.store == "s3://from-toml/x" and settings.ray_address == "ray://head:10001"
    assert settings.llm_model == "env-model"  # the environment beats the file


def test_config_show_masks_secrets_and_the_cli_uses_the_settings(tmp_path):
    config = tmp_path / "synthembed.toml"
    config.write_text(f'store = "file://{tmp_path}/store"\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SYNTHEMBED_CONFIG": str(config),
           "SYNTHEMBED_LLM_API_KEY": "sk-should-not-show-1234", "AWS_SECRET_ACCESS_KEY": "aws-should-not-show"}
    shown = subprocess.run([SYNTHEMBED, "config", "show"], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "should-not-show" not in shown.stdout + shown.stderr
    assert "**********" in shown.stdout and f"file://{tmp_path}/store" in shown.stdout
    status = subprocess.run([SYNTHEMBED, "status", "--run-id", "nope"], capture_output=True, text=True, env=env, timeout=120)
    assert status.returncode == 2 and f"in file://{tmp_path}/store" in status.stderr  # default store from the file
