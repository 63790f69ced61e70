"""Loading a stack: from the committed files (offline) and from Pulumi config (deploy, mocked)."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import pulumi
import pytest
from pulumi.runtime import Mocks, set_all_config, set_mocks

from infra.mocks import close_loop
from stacks.config import SECRETS
from stacks.errors import StackConfigError
from stacks.loader import (
    committed_secrets,
    load_pulumi_secrets,
    load_pulumi_stack_config,
    load_stack_config,
)
from tests.stacks.conftest import committed

SECURE = {"secure": "v1:Zm9vYmFy:ZW5jcnlwdGVk"}  # what the CLI writes; never decrypted here


def load_error(folder, stack: str) -> tuple[str, ...]:
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(stack, folder)
    return caught.value.problems


# Committed files


def test_committed_dev_stack_scales_to_zero_and_is_destroyable():
    config = load_stack_config("dev")
    assert config.environment == "dev"
    assert config.cloud == "gcp"
    assert config.min_instances == 0
    assert config.redis_tier == "BASIC"
    assert config.deletion_protection is False


def test_committed_prod_stack_is_always_on_highly_available_and_protected():
    config = load_stack_config("prod")
    assert config.environment == "prod"
    assert config.cloud == "gcp"
    assert config.min_instances >= 1
    assert config.redis_tier == "STANDARD_HA"
    assert config.deletion_protection is True
    assert config.alert_emails
    assert "*" not in config.cors_origins


def test_committed_files_commit_no_secret():
    assert committed_secrets("dev") == committed_secrets("prod") == frozenset()


# Problems found in a stack file


@pytest.mark.parametrize(
    ("stack", "changes", "message"),
    [
        (
            "dev",
            {"gcpRegion": "west-europe"},
            "emg-analyzer:gcpRegion (west-europe) must be a GCP region like europe-west4",
        ),
        (
            "dev",
            {"minInstances": 3, "maxInstances": 2},
            "emg-analyzer:maxInstances (2) must be >= minInstances (3)",
        ),
        (
            "dev",
            {"domain": datetime.date(2019, 1, 1)},  # YAML reads an unquoted date as a date
            "emg-analyzer:domain (2019-01-01) must be text (quote it in YAML)",
        ),
        (
            "prod",
            {"minInstances": 0},
            "emg-analyzer:minInstances (0) must be >= 1 in prod (prod never scales to zero)",
        ),
        (
            "prod",
            {"deletionProtection": False},
            "emg-analyzer:deletionProtection (false) must be true in prod",
        ),
        (
            "dev",
            {"maxInstance": 4},
            "emg-analyzer:maxInstance (4) is not a setting of emg-analyzer "
            "(did you mean maxInstances?)",
        ),
        (
            "prod",
            {"alertEmails": ["ops@example.org", "oncall"]},
            "emg-analyzer:alertEmails[1] (oncall) must be an e-mail address like name@example.org",
        ),
        (
            "prod",
            {"corsOrigins": ["*"]},
            "emg-analyzer:corsOrigins[0] (*) must name an origin, not '*' "
            "(the deployed service refuses '*')",
        ),
        ("dev", {"cloud": "azure"}, "emg-analyzer:cloud (azure) must be gcp or aws"),
        (
            "dev",
            {"jwtSecret": "hunter2-super-secret"},
            "emg-analyzer:jwtSecret (<hidden>) is a secret stored in plain text in "
            "Pulumi.dev.yaml: remove it and run "
            "`pulumi config set --secret emg-analyzer:jwtSecret <value>`",
        ),
        (
            "prod",
            {"databaseUrl": "postgresql://app:pw@db.example.org/emg"},
            "emg-analyzer:databaseUrl (<hidden>) is a secret stored in plain text in "
            "Pulumi.prod.yaml: remove it and run "
            "`pulumi config set --secret emg-analyzer:databaseUrl <value>`",
        ),
        (
            "dev",
            {"gcp:credentials": '{"private_key": "..."}'},
            "gcp:credentials (<hidden>) is a secret stored in plain text in Pulumi.dev.yaml: "
            "remove it and run `pulumi config set --secret gcp:credentials <value>`",
        ),
        (
            "dev",
            {"gcpRegion": SECURE},
            "emg-analyzer:gcpRegion (<encrypted>) is encrypted but is not a secret: set it in "
            "plain text with `pulumi config set emg-analyzer:gcpRegion <value>`",
        ),
        (
            "dev",
            {"jwtSecrets": SECURE},
            "emg-analyzer:jwtSecrets (<encrypted>) is not a setting of emg-analyzer "
            "(did you mean jwtSecret?)",
        ),
    ],
)
def test_each_bad_setting_in_a_stack_file_names_key_value_and_rule(
    write_stack, stack, changes, message
):
    assert load_error(write_stack(stack, changes=changes), stack) == (message,)


def test_a_plaintext_secret_never_appears_in_the_message(write_stack):
    folder = write_stack("dev", changes={"supabaseWebhookSecret": "whsec_abc123"})
    with pytest.raises(StackConfigError) as caught:
        load_stack_config("dev", folder)
    assert "whsec_abc123" not in str(caught.value)


def test_encrypted_secrets_are_accepted_and_listed(write_stack):
    folder = write_stack("prod", changes={s.key: SECURE for s in SECRETS})
    assert load_stack_config("prod", folder) == load_stack_config("prod")
    assert committed_secrets("prod", folder) == {s.key for s in SECRETS}


def test_environment_is_derived_from_the_stack_name_when_unset(write_stack):
    folder = write_stack("dev", drop=("environment",), stack="dev-alice")
    assert load_stack_config("dev-alice", folder).environment == "dev"


def test_a_key_without_namespace_belongs_to_the_project(write_stack):
    folder = write_stack("dev", drop=("maxInstances",), changes={})
    path = folder / "Pulumi.dev.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "  maxInstances: 5\n", encoding="utf-8")
    assert load_stack_config("dev", folder).max_instances == 5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "  maxInstances: 5\n",
            "emg-analyzer:maxInstances is given twice (emg-analyzer:maxInstances and "
            "maxInstances); keep one",
        ),
        (
            "  emg-analyzer:config:maxInstances: 5\n",
            "emg-analyzer:maxInstances is given twice (emg-analyzer:maxInstances and "
            "emg-analyzer:config:maxInstances); keep one",
        ),
        (
            "  emg-analyser:minInstances: 3\n",
            "emg-analyser:minInstances (3) is not read: did you mean emg-analyzer:minInstances?",
        ),
        (
            "  EMG-Analyzer:minInstances: 3\n",
            "EMG-Analyzer:minInstances (3) is not read: did you mean emg-analyzer:minInstances?",
        ),
    ],
)
def test_a_setting_pulumi_would_read_otherwise_is_refused(write_stack, extra, message):
    folder = write_stack("dev", changes={})
    path = folder / "Pulumi.dev.yaml"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    assert load_error(folder, "dev") == (message,)


def test_a_yaml_merge_key_is_read_with_the_keys_beside_it(write_stack):
    folder = write_stack("dev", drop=("minInstances",), changes={"maxInstances": 2})
    path = folder / "Pulumi.dev.yaml"
    text = path.read_text(encoding="utf-8").replace("config:\n", "config:\n  <<: *sizes\n", 1)
    sizes = "sizes: &sizes\n  emg-analyzer:minInstances: 1\n  emg-analyzer:maxInstances: 5\n"
    path.write_text(sizes + text, encoding="utf-8")
    config = load_stack_config("dev", folder)
    # Merged in, and overridden by the key written beside the merge (not "given twice").
    assert (config.min_instances, config.max_instances) == (1, 2)


def test_provider_settings_are_left_to_pulumi(write_stack):
    folder = write_stack("dev", changes={"aws:skipMetadataApiCheck": "false"})
    assert load_stack_config("dev", folder) == load_stack_config("dev")


@pytest.mark.parametrize(
    ("key", "ours"), [("aws:region", "awsRegion"), ("gcp:project", "gcpProject")]
)
def test_a_default_provider_setting_the_program_ignores_is_refused(write_stack, key, ours):
    folder = write_stack("dev", changes={key: "us-east-1"})
    with pytest.raises(StackConfigError) as caught:
        load_stack_config("dev", folder)
    assert caught.value.problems == (
        f"{key} (us-east-1) is not read: the program's own provider takes emg-analyzer:{ours}; "
        f"remove it (`pulumi config rm {key}`) and set emg-analyzer:{ours}",
    )


def test_a_missing_stack_file_names_the_ones_that_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Pulumi\.staging\.yaml does not exist"):
        load_stack_config("staging", tmp_path)


# Deploy time: pulumi.Config under mocks


class _NoResources(Mocks):
    def new_resource(self, args):  # pragma: no cover - the loader registers nothing
        return [f"{args.name}_id", args.inputs]

    def call(self, args):  # pragma: no cover
        return {}


def as_pulumi_config(config: dict[str, Any]) -> dict[str, str]:
    """What the CLI hands the program: text for scalars, JSON text for lists and maps."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | dict):
            return json.dumps(value)
        return str(value)

    return {key: text(value) for key, value in config.items()}


SECRET_VALUES = {f"emg-analyzer:{s.key}": f"value-of-{s.key}" for s in SECRETS}


@pytest.fixture
def deploy(monkeypatch):
    """``deploy(stack, config, secret_keys)`` puts Pulumi's runtime in the state `pulumi up`
    would, without a CLI."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_SECRET_KEYS", raising=False)
    # Pulumi's runtime needs an event loop; earlier tests may have closed theirs.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def use(stack: str, config: dict[str, str], secret_keys: list[str]) -> None:
        set_mocks(_NoResources(), project="emg-analyzer", stack=stack, preview=False)
        set_all_config(config, secret_keys)

    yield use
    set_all_config({}, [])
    asyncio.set_event_loop(None)
    close_loop(loop)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_pulumi_config_gives_the_same_config_as_the_stack_file(deploy, stack):
    deploy(stack, {**as_pulumi_config(committed(stack)), **SECRET_VALUES}, list(SECRET_VALUES))
    assert load_pulumi_stack_config() == load_stack_config(stack)


def test_pulumi_config_reads_the_cli_environment_too(deploy, monkeypatch):
    deploy("dev", {}, [])
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(as_pulumi_config(committed("dev"))))
    assert load_pulumi_stack_config() == load_stack_config("dev")


def test_pulumi_config_refuses_the_same_bad_settings(deploy):
    config = as_pulumi_config(committed("prod"))
    config["emg-analyzer:maxInstances"] = "0"
    config["emg-analyzer:minInstance"] = "1"
    deploy("prod", config, [])
    with pytest.raises(StackConfigError) as caught:
        load_pulumi_stack_config()
    assert caught.value.problems == (
        "emg-analyzer:maxInstances (0) must be >= 1",
        "emg-analyzer:minInstance (1) is not a setting of emg-analyzer "
        "(did you mean minInstances?)",
    )
    assert caught.value.source == "the configuration of stack prod"


def test_pulumi_config_refuses_a_secret_set_without_secret(deploy):
    config = {**as_pulumi_config(committed("dev")), "emg-analyzer:jwtSecret": "plain"}
    deploy("dev", config, [])
    with pytest.raises(StackConfigError) as caught:
        load_pulumi_stack_config()
    assert caught.value.problems == (
        "emg-analyzer:jwtSecret (<hidden>) is a secret stored in plain text in the "
        "configuration of stack dev: remove it and run "
        "`pulumi config set --secret emg-analyzer:jwtSecret <value>`",
    )


def test_secrets_are_read_as_secret_outputs(deploy):
    deploy("prod", {**as_pulumi_config(committed("prod")), **SECRET_VALUES}, list(SECRET_VALUES))

    async def resolve() -> dict[str, tuple[bool, Any, bool]]:
        outputs = load_pulumi_secrets("gcp")
        return {
            key: (isinstance(out, pulumi.Output), await out.future(), await out.is_secret())
            for key, out in outputs.items()
        }

    resolved = asyncio.run(resolve())  # a fresh event loop for this test's outputs
    assert resolved == {s.key: (True, f"value-of-{s.key}", True) for s in SECRETS}


def test_every_missing_secret_is_reported_with_its_command(deploy):
    deploy("dev", {"emg-analyzer:jwtSecret": "x"}, ["emg-analyzer:jwtSecret"])
    with pytest.raises(StackConfigError) as caught:
        load_pulumi_secrets("gcp")
    assert caught.value.problems == (
        "emg-analyzer:supabaseWebhookSecret is required (signs the storage webhook): run "
        "`pulumi config set --secret emg-analyzer:supabaseWebhookSecret <value>`",
        "emg-analyzer:databaseUrl is required (PostgreSQL URL, password included): run "
        "`pulumi config set --secret emg-analyzer:databaseUrl <value>`",
        "emg-analyzer:supabaseServiceKey is required (reads recordings from Supabase "
        "Storage): run `pulumi config set --secret emg-analyzer:supabaseServiceKey <value>`",
    )


def test_an_aws_stack_also_needs_the_redis_auth_token(deploy):
    deploy("dev", dict(SECRET_VALUES), list(SECRET_VALUES))
    with pytest.raises(StackConfigError) as caught:
        load_pulumi_secrets("aws")
    assert caught.value.problems == (
        "emg-analyzer:redisAuthToken is required (ElastiCache AUTH token: 16-128 printable "
        "characters, no '@', '\"' or '/'): run "
        "`pulumi config set --secret emg-analyzer:redisAuthToken <value>`",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "config:\n  - x: [\n",
            "Pulumi.dev.yaml is not valid YAML (line 3, column 1): expected the node content, but "
            "found '<stream end>'",
        ),
        (
            "config: {a: 1\n",
            "Pulumi.dev.yaml is not valid YAML (line 2, column 1): expected ',' "
            "or '}', but got '<stream end>'",
        ),
        (
            "config:\n  emg-analyzer:cpu: 1\n  emg-analyzer:memory: 2Gi\n  emg-analyzer:cpu: 4\n",
            "Pulumi.dev.yaml is not valid YAML (line 4, column 3): key emg-analyzer:cpu is given "
            "twice",
        ),
        (
            "config:\n  ? [a, b]\n  : 1\n",
            "Pulumi.dev.yaml is not valid YAML (line 2, column 5): found unhashable key",
        ),
    ],
)
def test_a_stack_file_that_is_not_yaml_is_named_with_the_place(tmp_path, text, message):
    (tmp_path / "Pulumi.dev.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(StackConfigError) as caught:
        load_stack_config("dev", tmp_path)
    assert caught.value.problems == (message,)
