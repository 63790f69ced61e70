"""Where a `StackConfig` comes from: the committed stack file, or Pulumi at deploy time.

Two entrances, one set of rules. The offline plan and the tests read ``Pulumi.<stack>.yaml``
(no CLI, no cloud, no decryption); `pulumi up` reads ``pulumi.Config``. Both hand the same
plain strings to `StackConfig.from_settings`, so a setting is accepted or refused, with the
same words, on both paths.

Secrets never enter `StackConfig`. A stack file may only hold them as ``secure:`` ciphertext
(a plain value is refused, masked, before anything else); at deploy time they are read with
`load_pulumi_secrets` as Pulumi secret Outputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stacks.config import SECRET_KEYS, StackConfig, looks_secret, secrets_for
from stacks.errors import HIDDEN, MISSING, NAMESPACE, Problem, StackConfigError, unknown_key_rule

if TYPE_CHECKING:
    import pulumi

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENCRYPTED = "<encrypted>"
# Default-provider settings a stack file may carry by habit: the platforms build explicit
# providers from our settings, so these would be silently ignored.
_IGNORED_PROVIDER_SETTINGS = {
    "aws:region": "awsRegion",
    "gcp:project": "gcpProject",
    "gcp:region": "gcpRegion",
}


def check_stack_name(stack: str) -> str:
    """``stack`` if it is a Pulumi stack name (never a path, nothing that breaks Markdown)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stack):
        raise ValueError(f"stack name {stack!r} must be letters, digits, '_', '.' or '-'")
    return stack


def stack_file(stack: str, root: Path = PROJECT_ROOT) -> Path:
    """The committed configuration file of ``stack``."""
    return root / f"Pulumi.{check_stack_name(stack)}.yaml"


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping; PyYAML keeps the last one
    silently, so an edit further down would quietly override a reviewed setting."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # ``<<: *defaults``: keys given beside it override the merged ones
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                break  # PyYAML's own construction refuses it ("found unhashable key")
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_stack_file(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file, as written (``secure:`` values untouched)."""
    if not path.is_file():
        known = sorted(p.name for p in path.parent.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"{path} does not exist (stack files here: {', '.join(known)})")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), _UniqueKeyLoader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or "not YAML"
        raise StackConfigError(
            [f"{path.name} is not valid YAML{where}: {problem}"], source=path.name
        ) from None
    except UnicodeDecodeError:
        raise StackConfigError([f"{path.name} is not UTF-8 text"], source=path.name) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackConfigError([f"{path.name} has no 'config:' mapping"], source=path.name)
    return config


def is_secure(value: object) -> bool:
    """A value the Pulumi CLI encrypted (``{secure: v1:...}``)."""
    return isinstance(value, dict) and set(value) == {"secure"}


def pulumi_text(value: object) -> object:
    """A YAML scalar as Pulumi hands it to the program: text (``true``, ``2``); lists as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return value


def split_settings(
    entries: Mapping[str, Any], *, secure: Callable[[str, Any], bool], source: str
) -> tuple[dict[str, Any], set[str], list[Problem]]:
    """Separate our plain settings from secrets and other namespaces.

    Returns the plain ``emg-analyzer`` settings (keys without namespace), the secret keys that
    are set (encrypted), and the problems: a secret stored in plain text (masked), an encrypted
    value for a key that is not a secret, an encrypted key nobody reads.
    """
    settings: dict[str, Any] = {}
    secrets_set: set[str] = set()
    problems: list[Problem] = []
    written: dict[str, str] = {}  # setting → how the file first wrote it
    for full_key, value in entries.items():
        namespace, _, key = str(full_key).rpartition(":")
        # Pulumi reads a bare key as the project's, and ``ns:config:key`` (its old form) as ns:key
        namespace = namespace.removesuffix(":config") or NAMESPACE
        shown = f"{namespace}:{key}"
        encrypted = secure(full_key, value)
        if shown in written:
            problems.append(
                Problem(shown, f"is given twice ({written[shown]} and {full_key}); keep one")
            )
            continue
        written[shown] = str(full_key)
        if looks_secret(key) and not encrypted:
            rule = (
                f"is a secret stored in plain text in {source}: remove it and run "
                f"`pulumi config set --secret {shown} <value>`"
            )
            problems.append(Problem(shown, rule, HIDDEN))
        elif shown in _IGNORED_PROVIDER_SETTINGS:
            ours = _IGNORED_PROVIDER_SETTINGS[shown]
            rule = (
                f"is not read: the program's own provider takes {NAMESPACE}:{ours}; remove it "
                f"(`pulumi config rm {shown}`) and set {NAMESPACE}:{ours}"
            )
            problems.append(Problem(shown, rule, value))
        elif namespace != NAMESPACE:
            # Other provider settings (gcp:..., aws:...) are Pulumi's; a near miss is a typo.
            if get_close_matches(namespace.lower(), [NAMESPACE], cutoff=0.8):
                rule = f"is not read: did you mean {NAMESPACE}:{key}?"
                problems.append(Problem(shown, rule, value))
        elif key in SECRET_KEYS:
            secrets_set.add(key)
        elif encrypted and key in StackConfig.setting_keys():
            rule = (
                f"is encrypted but is not a secret: set it in plain text with "
                f"`pulumi config set {shown} <value>`"
            )
            problems.append(Problem(shown, rule, ENCRYPTED))
        elif encrypted:
            rule = unknown_key_rule(key, StackConfig.setting_keys() | SECRET_KEYS)
            problems.append(Problem(shown, rule, ENCRYPTED))
        else:
            settings[key] = pulumi_text(value)
    return settings, secrets_set, problems


def load_stack_config(
    stack: str, root: Path = PROJECT_ROOT, cloud: str | None = None
) -> StackConfig:
    """The validated configuration of ``stack`` from its committed file (offline); with
    ``cloud``, as if the file said ``cloud: <cloud>`` (`emg infra plan --cloud`), so only that
    cloud's rules apply and its settings must be there."""
    path = stack_file(stack, root)
    settings, _, problems = split_settings(
        read_stack_file(path), secure=lambda _k, v: is_secure(v), source=path.name
    )
    if problems:
        raise StackConfigError(problems, source=path.name)
    if cloud is not None:
        settings["cloud"] = cloud
    return StackConfig.from_settings(settings, stack=stack, source=path.name)


def committed_secrets(stack: str, root: Path = PROJECT_ROOT) -> frozenset[str]:
    """Which application secrets the stack file holds (encrypted); the plan masks them all."""
    path = stack_file(stack, root)
    _, secrets_set, _ = split_settings(
        read_stack_file(path), secure=lambda _k, v: is_secure(v), source=path.name
    )
    return frozenset(secrets_set)


def _pulumi_entries() -> tuple[dict[str, Any], set[str]]:
    """Every config value the Pulumi runtime holds, and which keys are secret.

    The CLI passes config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS; mocks and the
    Automation API set it in the runtime (`set_all_config`). The SDK has no public way to
    list keys, so both places are read; unknown keys must be found, not silently ignored.
    """
    from pulumi.runtime import config as runtime

    keys = set(runtime.CONFIG.get()) | set(runtime.get_config_env())
    entries = {k: runtime.get_config(k) for k in sorted(keys)}
    secret = {k for k in keys if runtime.is_config_secret(k)}
    return entries, secret | set(runtime.get_config_secret_keys_env())


def load_pulumi_stack_config() -> StackConfig:
    """The validated configuration of the stack being deployed (`pulumi up`/`preview`).

    Call it before creating any resource: a bad setting then stops the run with every problem
    and nothing half-built.
    """
    import pulumi

    stack = pulumi.get_stack()
    source = f"the configuration of stack {stack}"
    entries, secret_keys = _pulumi_entries()
    settings, _, problems = split_settings(
        entries, secure=lambda k, _v: k in secret_keys, source=source
    )
    if problems:
        raise StackConfigError(problems, source=source)
    return StackConfig.from_settings(settings, stack=stack, source=source)


def load_pulumi_secrets(cloud: str) -> dict[str, pulumi.Output[str]]:
    """Every secret a stack on ``cloud`` needs, as a secret Output, keyed as in
    ``secrets_for(cloud)``. Missing ones are all reported at once with the command that sets
    each.
    """
    import pulumi

    config = pulumi.Config(NAMESPACE)
    wanted = secrets_for(cloud)
    missing = [s for s in wanted if config.get(s.key) is None]
    if missing:
        problems = [
            Problem(
                f"{NAMESPACE}:{s.key}",
                f"is required ({s.purpose}): run "
                f"`pulumi config set --secret {NAMESPACE}:{s.key} <value>`",
                MISSING,
            )
            for s in missing
        ]
        raise StackConfigError(problems, source=f"the configuration of stack {pulumi.get_stack()}")
    return {s.key: config.require_secret(s.key) for s in wanted}
