"""The hub's settings, read from `FDXP_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Keys that must never protect a real deployment: refused outside development mode.
DEFAULT_ADMIN_KEYS = frozenset({"", "admin", "changeme", "change-me", "secret", "fdxp"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FDXP_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: str = "./var"
    database_url: str = ""  # empty: SQLite file `<data_dir>/fdxp.db`
    kafka_bootstrap: str = ""  # empty: `fdxp run` starts the embedded broker
    admin_key: str = ""  # empty in development: one is generated and printed once
    topic_prefix: str = "fdxp"
    topic_partitions: int = 1
    relay_enabled: bool = True
    # Great Expectations in N worker processes (another core, the gateway's GIL stays free);
    # 0 runs it in the gateway process.
    quality_workers: int = 1
    relay_batch_size: int = 2000
    relay_poll_interval: float = 0.05
    max_batch_records: int = 10_000
    max_body_bytes: int = 32 * 1024 * 1024
    connector_stale_seconds: float = 120.0
    sqlite_busy_timeout_ms: int = 5000  # a locked SQLite file answers 503 after this
    stream_poll_interval: float = 0.5
    rate_limit_per_second: float = 50.0  # per API key; 0 turns the limit off
    rate_limit_burst: int = 200
    audit_enabled: bool = True
    cors_origins: str = ""  # comma-separated; empty: no CORS headers at all
    migrate_on_start: bool = True
    seed_catalog: bool = True
    # NDXP, the national platform (docs/ndxp-protocol.md). Unset URL/token: the hub makes no
    # NDXP calls (reference checks count NDXP as unavailable); unset proof key: every inbound
    # NDXP call is refused.
    ndxp_url: str = ""
    ndxp_member_id: str = "VN/GOV/000.00.00.G12/FDXP"
    ndxp_token: str = ""
    ndxp_proof_key: str = ""
    ndxp_registry_service: str = "VN/GOV/000.00.00.H26/DKKD/enterprise"
    ndxp_reference_ttl_seconds: float = 3600.0
    ndxp_timeout_seconds: float = 5.0
    ndxp_proof_window_seconds: int = 300
    ndxp_recheck_interval_seconds: float = 5.0
    ndxp_recheck_enabled: bool = True

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env != "development" and self.admin_key.strip().lower() in DEFAULT_ADMIN_KEYS:
            raise ValueError(
                "FDXP_ADMIN_KEY is missing or a well-known default; outside development mode "
                "set it to a long random value (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        if self.env != "development" and len(self.admin_key) < 24:
            raise ValueError("FDXP_ADMIN_KEY must be at least 24 characters outside development")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir}/fdxp.db"

    @property
    def ndxp_client_configured(self) -> bool:
        return bool(self.ndxp_url and self.ndxp_token)

    def topic(self, dataset_id: str) -> str:
        return f"{self.topic_prefix}.{dataset_id}"

    def dead_letter_topic(self, dataset_id: str) -> str:
        return f"{self.topic_prefix}.dlq.{dataset_id}"
