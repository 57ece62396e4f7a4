"""Settings: environment over TOML file over defaults; `config show` masks secrets."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import ValidationError

from spinneret.config import Settings
from tests.conftest import run_cli


def _clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SPINNERET_"):
            monkeypatch.delenv(name)


def test_toml_file_then_environment(tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    toml = tmp_path / "spinneret.toml"
    toml.write_text('pdq_auto_distance = 20\nfetch_timeout_s = 5.5\nalgorithms = ["pdq", "md5"]\n')
    monkeypatch.setenv("SPINNERET_CONFIG_FILE", str(toml))
    settings = Settings()
    assert settings.pdq_auto_distance == 20
    assert settings.fetch_timeout_s == 5.5
    assert settings.algorithms == ["pdq", "md5"]
    monkeypatch.setenv("SPINNERET_PDQ_AUTO_DISTANCE", "25")
    monkeypatch.setenv("SPINNERET_ALGORITHMS", "sha256, PDQ")
    settings = Settings()
    assert settings.pdq_auto_distance == 25, "environment wins over the file"
    assert settings.algorithms == ["sha256", "pdq"]


def test_toml_in_data_dir_is_found(tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    (tmp_path / "spinneret.toml").write_text("max_reminders = 7\n")
    monkeypatch.setenv("SPINNERET_DATA_DIR", str(tmp_path))
    assert Settings().max_reminders == 7


def test_invalid_values_are_rejected(monkeypatch):
    _clean_env(monkeypatch)
    monkeypatch.setenv("SPINNERET_PDQ_MIN_QUALITY", "101")
    with pytest.raises(ValidationError):
        Settings()


def test_config_show_masks_secrets(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env.update(
        SPINNERET_DATA_DIR=str(tmp_path),
        SPINNERET_SMTP_PASSWORD="hunter2",
        SPINNERET_DATABASE_URL="postgresql://spin:s3cret@db.example:5432/spin",
    )
    result = run_cli("config", "show", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["smtp_password"] == "********"
    assert values["database_url"] == "postgresql://spin:********@db.example:5432/spin"
    assert "hunter2" not in result.stdout and "s3cret" not in result.stdout
    assert values["data_dir"] == str(tmp_path)
