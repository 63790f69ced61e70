"""Service settings, read from the environment (names as the deployment passes them)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1 << 20


class Settings(BaseSettings):
    """Embedded defaults: `make run` needs no database, no cache and no secrets."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Literal["development", "testing", "production"] = "development"
    max_file_size: int = Field(100 * MiB, gt=0, description="largest accepted upload, bytes")
    processing_timeout: float = Field(300.0, gt=0, description="longest analysis of one file, s")
    parser_timeout: float = Field(20.0, gt=0, description="longest C3D parse, s")
    parser_workers: int = Field(2, ge=1, le=32)
    parser_memory_limit: int = Field(2048 * MiB, gt=64 * MiB, description="per parser process")

    @property
    def docs_enabled(self) -> bool:
        return self.environment != "production"
