"""What both clouds' secret components do alike: name-check the environment variable a secret
becomes, and version a write-only value without ever storing it.

Why a digest as the version: Secret Manager's ``secret_data_wo`` and Secrets Manager's
``secret_string_wo`` (and ElastiCache's ``auth_token_wo``) are never read back, so the provider
cannot see a change; their ``*_wo_version`` must change instead. A digest of the value changes
exactly when the value does (``pulumi config set --secret``), with no counter to bump.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection

from stacks.config import SECRET_NAME, SECRETS

_ENV_VAR = re.compile(r"[A-Z][A-Z0-9_]*")
_ENV_VAR_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")  # what a container accepts
# Secret whatever their name says: the stack's application secrets (DATABASE_URL holds a
# password) and the Redis URL (holds the AUTH string).
_ALWAYS_SECRET = frozenset({s.env_var for s in SECRETS} | {"REDIS_URL"})


def check_container_env(env: Collection[str], secret_env: Collection[str], how: str) -> None:
    """Refuse a container's environment when a name is malformed, a secret would travel as a
    plain value, or a name is both plain and secret. ``how`` says how secrets must be passed
    (e.g. "in secret_arns as a Secrets Manager ARN (A8)")."""
    for name in [*env, *secret_env]:
        if not _ENV_VAR_NAME.fullmatch(name):
            raise ValueError(f"env var {name!r} must be upper case letters, digits and '_'")
    for name in env:
        if must_be_secret(name):
            raise ValueError(
                f"env var {name!r} holds a secret (name matches {SECRET_NAME.pattern} or is one "
                f"of the stack's secrets): pass it {how}, never as a plain value"
            )
    if both := sorted(set(env) & set(secret_env)):
        raise ValueError(f"env vars {both} are both plain and secret: pick one")


def must_be_secret(env_var: str) -> bool:
    """True for an environment variable that may only reach a container as a secret reference
    (security table G5, A8): its name looks secret, or it is one of the stack's secrets."""
    return bool(SECRET_NAME.search(env_var)) or env_var in _ALWAYS_SECRET


def validate_env_var(env_var: str) -> None:
    """Raise ValueError unless ``env_var`` is an upper-case environment variable name."""
    if not isinstance(env_var, str) or not _ENV_VAR.fullmatch(env_var):
        raise ValueError(
            f"environment variable name {env_var!r} must match [A-Z][A-Z0-9_]* (like JWT_SECRET)"
        )


def value_version(value: str) -> str:
    """Changes when the value does (48 bits of its SHA-256); never the value itself. Digits
    only, so it reads as a number whether the provider's field is a string (pulumi-gcp 10) or
    a number (pulumi-aws 7)."""
    return str(int(hashlib.sha256(value.encode()).hexdigest()[:12], 16))
