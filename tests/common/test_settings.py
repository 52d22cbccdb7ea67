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


def test_a_typo_in_the_settings_file_is_one_line_exit_2_before_anything_runs(tmp_path):
    # Given a synthembed.toml whose keys are misspelt (or are flags, which the file does not set)
    config = tmp_path / "synthembed.toml"
    config.write_text(f'stor = "file://{tmp_path}/wanted"\nllm_modle = "m"\nconcurrency = "lots"\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SYNTHEMBED_CONFIG": str(config)}
    # When any command runs, then it refuses in one line naming each key (was: ignored, default store used)
    run = subprocess.run([SYNTHEMBED, "status", "--run-id", "r1"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "'stor' (did you mean 'store'?)" in run.stderr and "'llm_modle' (did you mean 'llm_model'?)" in run.stderr
    assert "'concurrency'" in run.stderr and not (tmp_path / "wanted").exists()
