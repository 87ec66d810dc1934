"""Default credentials are for development only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from gateway.settings import Settings


@pytest.mark.parametrize("key", ["", "admin", "changeme", "short-but-not-default"])
def test_production_refuses_missing_default_or_short_admin_keys(key: str) -> None:
    with pytest.raises(ValidationError, match="FDXP_ADMIN_KEY"):
        Settings(env="production", admin_key=key)


def test_production_accepts_a_long_random_key() -> None:
    settings = Settings(env="production", admin_key="k" * 8 + "Zx9-" * 6)
    assert settings.env == "production"


def test_development_may_run_without_a_key() -> None:
    assert Settings(env="development", admin_key="").admin_key == ""


def test_settings_come_from_fdxp_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FDXP_DATABASE_URL", "postgresql://x@db/fdxp")
    monkeypatch.setenv("FDXP_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("FDXP_TOPIC_PREFIX", "mof")
    settings = Settings()
    assert settings.resolved_database_url == "postgresql://x@db/fdxp"
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.topic("tax.einvoice") == "mof.tax.einvoice"
    assert settings.dead_letter_topic("tax.einvoice") == "mof.dlq.tax.einvoice"


def test_fdxp_run_refuses_to_start_in_production_with_a_default_key(tmp_path) -> None:
    env = {
        **os.environ,
        "FDXP_ENV": "production",
        "FDXP_ADMIN_KEY": "changeme",
        "FDXP_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "FDXP_ADMIN_KEY" in result.stderr
    assert not (tmp_path / "fdxp.db").exists()
