"""The committed Pulumi files: project settings, and no secret in plain text anywhere.

The scan reads the YAML itself rather than going through stacks.loader, so a bug in the loader
cannot hide a committed secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.config import SECRET_KEYS, looks_secret
from stacks.loader import PROJECT_ROOT, load_stack_config

STACK_FILES = sorted(PROJECT_ROOT.glob("Pulumi.*.yaml"))
# What the Pulumi CLI may write at the top of a stack file besides config.
STACK_FILE_KEYS = {"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"}


def plaintext_secrets(document: dict[str, Any]) -> list[str]:
    """Keys of ``config:`` that name a secret but hold something other than ``{secure: ...}``."""
    found = []
    for full_key, value in (document.get("config") or {}).items():
        key = str(full_key).rpartition(":")[2]
        encrypted = isinstance(value, dict) and set(value) == {"secure"}
        if looks_secret(key) and not encrypted:
            found.append(str(full_key))
    return found


def test_there_is_a_dev_and_a_prod_stack_file():
    assert {"Pulumi.dev.yaml", "Pulumi.prod.yaml"} <= {p.name for p in STACK_FILES}


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_committed_stack_file_is_valid(path: Path):
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    assert load_stack_config(stack).environment in ("dev", "prod")


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_no_committed_stack_file_holds_a_secret_without_secure(path: Path):
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(document) <= STACK_FILE_KEYS, f"{path.name}: unexpected top-level keys"
    assert plaintext_secrets(document) == [], f"{path.name} commits a secret in plain text"


def test_the_scan_catches_a_plaintext_secret_and_passes_an_encrypted_one():
    document = {
        "config": {
            "emg-analyzer:jwtSecret": "hunter2",
            "emg-analyzer:databaseUrl": {"secure": "v1:abc"},
            "emg-analyzer:supabaseServiceKey": {"not-secure": "x"},
            "gcp:accessToken": "ya29.abc",
            "emg-analyzer:gcpRegion": "europe-west4",
        }
    }
    assert plaintext_secrets(document) == [
        "emg-analyzer:jwtSecret",
        "emg-analyzer:supabaseServiceKey",
        "gcp:accessToken",
    ]


def test_every_application_secret_name_is_caught_by_the_scan():
    assert all(looks_secret(key) for key in SECRET_KEYS)


def test_pulumi_project_runs_the_python_program_in_infra_from_the_repository_venv():
    project = yaml.safe_load((PROJECT_ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == "emg-analyzer"
    assert project["main"] == "infra/"
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
