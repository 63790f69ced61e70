"""The stack outputs the frontend consumes, and the two forms it takes them in.

This is a contract between two repositories: the frontend's build reads an env file
(``VITE_API_URL=...``) or JSON, never Pulumi itself. Everything here ends up in a public
JavaScript bundle, so a value that looks secret (Pulumi's ``[secret]`` placeholder,
credentials or a signature in a URL, a token, key material) is refused rather than rendered,
and rendering is deterministic so a changed output shows up as a one-line diff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from stacks.config import Cloud, Environment, looks_secret
from stacks.errors import HIDDEN, Problem, ProblemsError, RuleError, problems_from

# Output name -> frontend variable, in the order they are written.
ENV_NAMES = {
    "apiUrl": "VITE_API_URL",
    "healthUrl": "VITE_HEALTH_URL",
    "imageRef": "VITE_IMAGE_REF",
    "cloud": "VITE_CLOUD",
    "environment": "VITE_ENVIRONMENT",
    "region": "VITE_REGION",
    "dashboardUrl": "VITE_DASHBOARD_URL",
    "corsOrigins": "VITE_CORS_ORIGINS",
}

_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
_SIGNED_URL_PARAMS = {"sig", "signature", "x-goog-signature", "x-amz-signature"}
# Characters that change a value's meaning in an env file (Vite expands $VAR). '#' starts a
# comment only outside quotes, so values holding one (AWS console URLs) are written quoted.
_UNSAFE = re.compile(r"[\s\"'`$\\]")
_HTTPS = re.compile(r"https://[^\s/?#@]+(/\S*)?")
_DIGEST_REF = re.compile(r"[^\s@]+@sha256:[0-9a-f]{64}")
_NOT_SECRET = "; stack outputs for the frontend must not be secret"


def secret_sign(value: str) -> str | None:
    """Why ``value`` looks secret, or None."""
    if "[secret]" in value:
        return "is a Pulumi secret ([secret])"
    if "-----BEGIN" in value:
        return "holds key material (PEM)"
    if _JWT.search(value):
        return "looks like a JWT"
    if "://" in value:
        parts = urlsplit(value)
        if "@" in parts.netloc:
            return "carries credentials (user:password@ in a URL)"
        names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
        if any(looks_secret(n) or n.lower() in _SIGNED_URL_PARAMS for n in names):
            return "carries a secret-looking query parameter"
    return None


def _check(value: str, index: int | None) -> None:
    suffix = "" if index is None else f"[{index}]"
    sign = secret_sign(value)
    if sign:
        raise ProblemsError([Problem(suffix, sign + _NOT_SECRET, HIDDEN)])
    if _UNSAFE.search(value):
        rule = "must not contain whitespace, quotes, '$' or '\\' (env file syntax)"
        raise ProblemsError([Problem(suffix, rule, value)])


class StackOutputs(BaseModel):
    """What one stack exports for the frontend. None of it is secret."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=True, frozen=True
    )

    api_url: str
    health_url: str
    image_ref: str
    cloud: Cloud
    environment: Environment
    region: str
    dashboard_url: str
    cors_origins: tuple[str, ...]

    @field_validator("*", mode="before")
    @classmethod
    def _not_secret(cls, value: Any) -> Any:
        if isinstance(value, str):
            _check(value, None)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    _check(item, i)
        return value

    @field_validator("api_url", "health_url", "dashboard_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not _HTTPS.fullmatch(value):
            raise RuleError("must be an https:// URL")
        return value

    @field_validator("image_ref")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _DIGEST_REF.fullmatch(value):
            raise RuleError("must reference the image by digest (<image>@sha256:<64 hex>)")
        return value

    @classmethod
    def from_stack(cls, outputs: Mapping[str, Any]) -> StackOutputs:
        """The contract from `pulumi stack output --json` (or the offline plan's outputs).

        Other outputs the stack may export are not part of the contract and are left out.
        """
        picked = {k: outputs[k] for k in ENV_NAMES if k in outputs}
        try:
            return cls.model_validate(picked)
        except ValidationError as exc:
            problems = problems_from(
                exc, known=ENV_NAMES, prefix="", missing_rule="is missing from the stack outputs"
            )
            raise StackOutputsError(problems) from None


class StackOutputsError(ValueError):
    """The outputs break the frontend contract; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(str(p) for p in problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"stack outputs break the frontend contract:\n{lines}")


def render_env(outputs: StackOutputs) -> str:
    """The frontend's env file: one ``VITE_*=value`` line per output, in contract order; a value
    with a '#' in double quotes (it cannot hold quotes, '$' or '\\', so nothing needs escaping)."""
    data = outputs.model_dump(by_alias=True, mode="json")
    lines = [f"# emg-analyzer stack outputs ({outputs.environment}); generated, do not edit"]
    for key, name in ENV_NAMES.items():
        value = data[key]
        text = ",".join(value) if isinstance(value, list) else value
        lines.append(f'{name}="{text}"' if "#" in text else f"{name}={text}")
    return "\n".join(lines) + "\n"


def render_json(outputs: StackOutputs) -> str:
    """The outputs as JSON with sorted keys: byte-identical for identical outputs."""
    data = outputs.model_dump(by_alias=True, mode="json")
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
