"""Platform settings: environment (`MINEGATE_*`), an optional `.env` file, or keyword arguments."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./data/minegate.db"


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINEGATE_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    """`sqlite:///path` or `postgresql://user@host/db`; ledger and platform tables share it."""
    mqtt_url: str | None = None
    """`mqtt://user:password@host:1883`: when set, the app consumes telemetry from this broker."""
    mqtt_group: str = "platform"
    """Shared-subscription group: every worker of one platform uses the same group to split the load."""
    mqtt_client_id: str | None = None
    """A stable id gives the worker a persistent session (queued QoS 1 messages survive a restart)."""
    influx_url: str | None = None
    """Optional InfluxDB-protocol endpoint that receives a copy of ingested telemetry."""
    influx_token: str | None = None
    influx_org: str = "minegate"
    influx_bucket: str = "platform"
    signing_key_path: Path | None = None
    """PEM file of the Ed25519 key that signs ledger chain heads (the ledger makes one if absent)."""
    job_interval: float = Field(default=300.0, gt=0)
    """Seconds between runs of the meter feed; the anomaly rules run once a day after `anomaly_hour`."""
    anomaly_hour: int = Field(default=1, ge=0, le=23)
    jobs_enabled: bool = True
    ingest_batch_max: int = Field(default=500, ge=1)
    """Upper bound of MQTT messages written in one database transaction."""
    ingest_flush_ms: int = Field(default=50, ge=1)
    batch_key_retention_days: int = Field(default=30, ge=1)
    """Dedup keys are kept this long; a gateway buffer never redelivers older batches (max_age)."""
    audit: bool = True

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, v: str) -> str:
        if not v.startswith(("sqlite:", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("database_url must start with sqlite:/// or postgresql:// (allowed: sqlite, postgresql)")
        return v
