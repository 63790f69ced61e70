"""Settings from the environment as the deployment passes it (upper-case variables set with
monkeypatch, read by ``load_settings``), the profiles' defaults, and production's refusal to
start on unsafe values, both in-process and through ``emg serve``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, load_settings

MiB = 1 << 20
JWT_SECRET = "jwt-secret-" + "j" * 40
WEBHOOK_SECRET = "webhook-secret-" + "w" * 40
SERVICE_KEY = "service-key-" + "k" * 40
REDIS_PASSWORD = "redis-password-r7r7r7"
PG_URL = "postgresql://emg@db.internal:5432/emg"
ORIGINS = "https://app.example.org,https://staging.example.org"

# Every setting's variable, so the developer's own environment never leaks into a test.
SETTING_VARS = [name.upper() for name in Settings.model_fields]


def clear_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTING_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    clear_settings_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    yield


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def valid_production(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(
        monkeypatch,
        ENVIRONMENT="production",
        JWT_SECRET=JWT_SECRET,
        SUPABASE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        DATABASE_URL=PG_URL,
        CORS_ORIGINS=ORIGINS,
    )


def refusal(*problems: str, environment: str = "production") -> str:
    return f"unusable {environment} settings:\n" + "\n".join(f"- {p}" for p in problems)


# --- profiles --------------------------------------------------------------------------------


def test_load_without_environment_uses_development_profile() -> None:
    settings = load_settings()

    assert settings.environment == "development"
    assert settings.docs_enabled is True
    assert settings.requires_auth is False
    assert settings.debug is False
    assert settings.database_url.startswith("sqlite")
    assert settings.redis_url is None
    assert settings.jwt_secret is None


def test_load_testing_profile_keeps_docs_on_and_auth_off(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, ENVIRONMENT="testing")

    settings = load_settings()

    assert (settings.environment, settings.docs_enabled, settings.requires_auth) == (
        "testing",
        True,
        False,
    )


def test_load_production_profile_turns_docs_off_and_auth_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    valid_production(monkeypatch)

    settings = load_settings()

    assert settings.environment == "production"
    assert settings.docs_enabled is False
    assert settings.requires_auth is True


def test_load_development_with_auth_required_demands_jwt_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(monkeypatch, AUTH_REQUIRED="true")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert str(caught.value) == refusal(
        "JWT_SECRET is required when authentication is on", environment="development"
    )


def test_load_defaults_limits_to_100_mib_and_300_seconds() -> None:
    settings = load_settings()

    assert settings.max_file_size == 100 * MiB == 104_857_600
    assert settings.processing_timeout == 300.0


# --- variable names as the deployment passes them ---------------------------------------------


def test_load_reads_each_deployment_variable_by_its_upper_case_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca_pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    set_env(
        monkeypatch,
        ENVIRONMENT="testing",
        DEBUG="true",
        LOG_LEVEL="WARNING",
        CORS_ORIGINS=ORIGINS,
        DATABASE_URL=PG_URL,
        REDIS_URL=f"rediss://:{REDIS_PASSWORD}@cache.internal:6378/0",
        REDIS_CA_CERT=ca_pem,
        CACHE_TTL="3600",
        JWT_SECRET=JWT_SECRET,
        SUPABASE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        MAX_FILE_SIZE=str(5 * MiB),
        PROCESSING_TIMEOUT="42.5",
    )

    settings = load_settings()

    assert settings.environment == "testing"
    assert settings.debug is True
    assert settings.log_level == "WARNING"
    assert settings.cors_origins == ["https://app.example.org", "https://staging.example.org"]
    assert settings.database_url == PG_URL
    assert settings.redis_url is not None
    assert (
        settings.redis_url.get_secret_value() == f"rediss://:{REDIS_PASSWORD}@cache.internal:6378/0"
    )
    assert settings.redis_ca_cert == ca_pem
    assert settings.cache_ttl == 3600
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == JWT_SECRET
    assert settings.supabase_webhook_secret is not None
    assert settings.supabase_webhook_secret.get_secret_value() == WEBHOOK_SECRET
    assert settings.max_file_size == 5 * MiB
    assert settings.processing_timeout == 42.5


def test_load_splits_cors_origins_on_commas_and_drops_blanks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(monkeypatch, CORS_ORIGINS=" https://a.example.org , ,https://b.example.org,")

    assert load_settings().cors_origins == ["https://a.example.org", "https://b.example.org"]


def test_load_treats_empty_variables_as_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # .env.example leaves optional values empty ("Empty values use the embedded defaults").
    for name in ("API_DOCS", "AUTH_REQUIRED", "REDIS_URL", "JWT_SECRET", "SUPABASE_URL"):
        monkeypatch.setenv(name, "")

    settings = load_settings()

    assert settings.api_docs is None
    assert settings.auth_required is None
    assert settings.redis_url is None
    assert settings.jwt_secret is None
    assert settings.supabase_url is None


def test_load_accepts_every_value_of_env_example(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    lines = [line.strip() for line in example.read_text().splitlines()]
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    for name, value in pairs:
        monkeypatch.setenv(name, value)

    settings = load_settings()

    assert {name for name, _ in pairs} <= set(SETTING_VARS)
    assert settings.environment == "development"
    assert settings.max_file_size == 100 * MiB


# --- production refuses to start --------------------------------------------------------------


def test_load_production_names_every_problem_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(
        monkeypatch,
        ENVIRONMENT="production",
        DEBUG="true",
        CORS_ORIGINS="*",
        API_DOCS="true",
        DATABASE_URL="sqlite:///./var/emg.sqlite3",
    )

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert str(caught.value).splitlines() == [
        "unusable production settings:",
        "- JWT_SECRET is required when authentication is on",
        "- SUPABASE_WEBHOOK_SECRET is required in production",
        "- DEBUG must be off in production",
        "- CORS_ORIGINS must list origins, not '*', in production",
        "- API_DOCS must be off in production",
        "- DATABASE_URL must point at PostgreSQL in production, not SQLite",
    ]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("JWT_SECRET", None, "JWT_SECRET is required when authentication is on"),
        ("SUPABASE_WEBHOOK_SECRET", None, "SUPABASE_WEBHOOK_SECRET is required in production"),
        ("JWT_SECRET", "", "JWT_SECRET is required when authentication is on"),
        ("DEBUG", "true", "DEBUG must be off in production"),
        (
            "CORS_ORIGINS",
            "https://app.example.org,*",
            "CORS_ORIGINS must list origins, not '*', in production",
        ),
        ("API_DOCS", "true", "API_DOCS must be off in production"),
        (
            "DATABASE_URL",
            "sqlite:////data/emg.sqlite3",
            "DATABASE_URL must point at PostgreSQL in production, not SQLite",
        ),
        (
            "STORAGE_BACKEND",
            "supabase",
            "STORAGE_BACKEND=supabase needs SUPABASE_URL and SUPABASE_SERVICE_KEY",
        ),
    ],
)
def test_load_production_refuses_single_unsafe_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str | None, problem: str
) -> None:
    valid_production(monkeypatch)
    if value is None:
        monkeypatch.delenv(name)
    else:
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert str(caught.value) == refusal(problem)


def test_load_production_accepts_fully_valid_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    valid_production(monkeypatch)
    set_env(
        monkeypatch,
        DEBUG="false",
        API_DOCS="false",
        LOG_LEVEL="INFO",
        REDIS_URL=f"rediss://:{REDIS_PASSWORD}@cache.internal:6378/0",
        STORAGE_BACKEND="supabase",
        SUPABASE_URL="https://project.supabase.co",
        SUPABASE_SERVICE_KEY=SERVICE_KEY,
    )

    settings = load_settings()

    assert settings.environment == "production"
    assert settings.cors_origins == ["https://app.example.org", "https://staging.example.org"]
    assert settings.storage_backend == "supabase"
    assert settings.docs_enabled is False
    assert settings.requires_auth is True


def test_load_production_refuses_auth_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    valid_production(monkeypatch)
    monkeypatch.delenv("JWT_SECRET")
    monkeypatch.setenv("AUTH_REQUIRED", "false")

    with pytest.raises(SettingsError, match="AUTH_REQUIRED"):
        load_settings()


# --- bad types --------------------------------------------------------------------------------


def test_load_reports_bad_types_as_name_colon_message_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(
        monkeypatch,
        ENVIRONMENT="staging",
        DEBUG="maybe",
        LOG_LEVEL="verbose",
        CACHE_TTL="0",
        MAX_FILE_SIZE="big",
        PROCESSING_TIMEOUT="-1",
    )

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert str(caught.value).splitlines() == [
        "ENVIRONMENT: Input should be 'development', 'testing' or 'production'",
        "DEBUG: Input should be a valid boolean, unable to interpret input",
        "LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        "CACHE_TTL: Input should be greater than or equal to 1",
        "MAX_FILE_SIZE: Input should be a valid integer, unable to parse string as an integer",
        "PROCESSING_TIMEOUT: Input should be greater than 0",
    ]


def test_load_refuses_zero_max_file_size(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, MAX_FILE_SIZE="0")

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert str(caught.value) == "MAX_FILE_SIZE: Input should be greater than 0"


# --- secrets stay hidden ----------------------------------------------------------------------

SECRETS = (JWT_SECRET, WEBHOOK_SECRET, SERVICE_KEY, REDIS_PASSWORD)


def set_all_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(
        monkeypatch,
        JWT_SECRET=JWT_SECRET,
        SUPABASE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SUPABASE_SERVICE_KEY=SERVICE_KEY,
        SUPABASE_URL="https://project.supabase.co",
        STORAGE_BACKEND="supabase",
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
    )


def test_repr_and_str_of_settings_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    set_all_secrets(monkeypatch)

    settings = load_settings()
    shown = repr(settings) + str(settings) + repr(settings.model_dump())

    assert [s for s in SECRETS if s in shown] == []
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == JWT_SECRET  # set, only hidden


def test_repr_of_settings_hides_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://emg:db-password-p4p4@db.internal/emg")

    settings = load_settings()

    assert "db-password-p4p4" not in repr(settings)


def test_settings_error_hides_secrets_of_refused_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_all_secrets(monkeypatch)
    set_env(monkeypatch, ENVIRONMENT="production", DEBUG="true", DATABASE_URL=PG_URL)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    message = str(caught.value)
    assert message == refusal("DEBUG must be off in production")
    assert [s for s in SECRETS if s in message] == []


def test_settings_error_hides_secrets_beside_bad_types(monkeypatch: pytest.MonkeyPatch) -> None:
    set_all_secrets(monkeypatch)
    set_env(monkeypatch, CACHE_TTL=JWT_SECRET)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    message = str(caught.value)
    assert message == (
        "CACHE_TTL: Input should be a valid integer, unable to parse string as an integer"
    )
    assert [s for s in SECRETS if s in message] == []


# --- `emg serve` refuses to start -------------------------------------------------------------


def test_emg_serve_in_production_without_secrets_exits_2_naming_problems(
    tmp_path: Path,
) -> None:
    emg = Path(sys.executable).parent / "emg"
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_VARS}
    env.update(
        ENVIRONMENT="production",
        DATABASE_URL="postgresql://emg:db-password-p4p4@127.0.0.1:9/emg",
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:9/0",
    )

    started = time.perf_counter()
    done = subprocess.run(
        [str(emg), "serve", "--port", "9"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    elapsed = time.perf_counter() - started

    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "emg serve: "
        + refusal(
            "JWT_SECRET is required when authentication is on",
            "SUPABASE_WEBHOOK_SECRET is required in production",
        )
        + "\n"
    )
    assert "Traceback" not in done.stderr
    assert REDIS_PASSWORD not in done.stderr + done.stdout
    assert "db-password-p4p4" not in done.stderr + done.stdout
    assert elapsed < 10, f"refusal took {elapsed:.1f} s"
