"""Service settings from the environment, with development, testing and production profiles.

Names are the ones the deployment passes (upper-case environment variables). Development needs
nothing installed: SQLite, no cache, no secrets. Production refuses to start, naming every
problem at once, when a required secret is missing or a setting is unsafe.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1 << 20
Environment = Literal["development", "testing", "production"]


class SettingsError(ValueError):
    """The configuration is unusable; the message lists every problem, one per line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    environment: Environment = "development"
    debug: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    api_docs: bool | None = Field(None, description="OpenAPI docs; default: on outside production")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:5173", "http://127.0.0.1:5173"],
        description="comma-separated origins of the frontend",
    )
    # Storage of sessions and reports
    database_url: str = Field("sqlite:///./var/emg.sqlite3", repr=False)  # may hold a password
    # Cache (optional: the service is correct without it)
    redis_url: SecretStr | None = None
    redis_ca_cert: str | None = Field(None, description="PEM text or path of the Redis server CA")
    cache_ttl: int = Field(7 * 24 * 3600, ge=1)
    cache_timeout: float = Field(0.05, gt=0, description="longest wait for one Redis call, s")
    # Secrets
    jwt_secret: SecretStr | None = None
    supabase_webhook_secret: SecretStr | None = None
    auth_required: bool | None = Field(None, description="default: on in production only")
    # Limits
    max_file_size: int = Field(100 * MiB, gt=0, description="largest accepted upload, bytes")
    processing_timeout: float = Field(300.0, gt=0, description="longest analysis of one file, s")
    parser_timeout: float = Field(20.0, gt=0, description="longest C3D parse, s")
    parser_workers: int = Field(2, ge=1, le=32)
    parser_memory_limit: int = Field(2048 * MiB, gt=64 * MiB, description="per parser process")
    # Object storage the webhooks point at
    storage_backend: Literal["local", "supabase"] = "local"
    storage_dir: str = "./var/storage"
    storage_bucket: str = "c3d-examples"
    supabase_url: str | None = None
    supabase_service_key: SecretStr | None = None
    # Background processing of webhook sessions
    worker_concurrency: int = Field(1, ge=0, le=16, description="0 disables the worker")
    worker_poll_interval: float = Field(5.0, gt=0)
    max_attempts: int = Field(3, ge=1)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    @property
    def requires_auth(self) -> bool:
        if self.auth_required is not None:
            return self.auth_required
        return self.environment == "production"

    @model_validator(mode="after")
    def _safe_for_environment(self) -> Settings:
        problems = []
        if self.requires_auth and not self.jwt_secret:
            problems.append("JWT_SECRET is required when authentication is on")
        if self.storage_backend == "supabase" and not (
            self.supabase_url and self.supabase_service_key
        ):
            problems.append("STORAGE_BACKEND=supabase needs SUPABASE_URL and SUPABASE_SERVICE_KEY")
        if self.environment == "production":
            if not self.requires_auth:
                problems.append("AUTH_REQUIRED must be on in production")
            if not self.supabase_webhook_secret:
                problems.append("SUPABASE_WEBHOOK_SECRET is required in production")
            if self.debug:
                problems.append("DEBUG must be off in production")
            if "*" in self.cors_origins:
                problems.append("CORS_ORIGINS must list origins, not '*', in production")
            if self.docs_enabled:
                problems.append("API_DOCS must be off in production")
            if self.database_url.startswith("sqlite"):
                problems.append("DATABASE_URL must point at PostgreSQL in production, not SQLite")
        if problems:
            raise SettingsError(
                f"unusable {self.environment} settings:\n" + "\n".join(f"- {p}" for p in problems)
            )
        return self


def load_settings() -> Settings:
    """Settings from the environment; `SettingsError` lists every problem (pydantic's own
    errors are turned into the same one-line-per-problem form)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]).upper()
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}" if name else message)
        raise SettingsError("\n".join(lines)) from None
