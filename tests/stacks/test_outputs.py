"""The frontend's contract: rendered deterministically, and never carrying a secret."""

from __future__ import annotations

import json

import pytest

from stacks.outputs import ENV_NAMES, StackOutputs, StackOutputsError, render_env, render_json

DIGEST = "sha256:" + "ab" * 32
OUTPUTS = {
    "apiUrl": "https://api.dev.emg.example.org",
    "healthUrl": "https://api.dev.emg.example.org/health",
    "imageRef": f"europe-west4-docker.pkg.dev/emg-analyzer-dev/emg/api@{DIGEST}",
    "cloud": "gcp",
    "environment": "dev",
    "region": "europe-west4",
    "dashboardUrl": "https://console.cloud.google.com/monitoring/dashboards/custom/123?project=emg-analyzer-dev",
    "corsOrigins": ["http://localhost:5173", "https://dev.emg.example.org"],
}


def rejected(**changes) -> tuple[str, ...]:
    with pytest.raises(StackOutputsError) as caught:
        StackOutputs.from_stack({**OUTPUTS, **changes})
    return caught.value.problems


def test_env_file_has_one_vite_variable_per_output_in_contract_order():
    assert render_env(StackOutputs.from_stack(OUTPUTS)) == (
        "# emg-analyzer stack outputs (dev); generated, do not edit\n"
        "VITE_API_URL=https://api.dev.emg.example.org\n"
        "VITE_HEALTH_URL=https://api.dev.emg.example.org/health\n"
        f"VITE_IMAGE_REF=europe-west4-docker.pkg.dev/emg-analyzer-dev/emg/api@{DIGEST}\n"
        "VITE_CLOUD=gcp\n"
        "VITE_ENVIRONMENT=dev\n"
        "VITE_REGION=europe-west4\n"
        "VITE_DASHBOARD_URL=https://console.cloud.google.com/monitoring/dashboards/custom/123"
        "?project=emg-analyzer-dev\n"
        "VITE_CORS_ORIGINS=http://localhost:5173,https://dev.emg.example.org\n"
    )


def test_a_value_with_a_hash_is_quoted_so_it_is_not_read_as_a_comment():
    url = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=d"
    text = render_env(StackOutputs.from_stack({**OUTPUTS, "dashboardUrl": url}))
    assert f'VITE_DASHBOARD_URL="{url}"\n' in text
    assert "VITE_REGION=europe-west4\n" in text


def test_json_has_sorted_keys_and_round_trips():
    text = render_json(StackOutputs.from_stack(OUTPUTS))
    assert list(json.loads(text)) == sorted(OUTPUTS)
    assert json.loads(text) == OUTPUTS
    assert text.endswith("}\n")


def test_rendering_does_not_depend_on_the_order_pulumi_printed():
    shuffled = dict(reversed(list(OUTPUTS.items())))
    for render in (render_env, render_json):
        assert render(StackOutputs.from_stack(shuffled)) == render(StackOutputs.from_stack(OUTPUTS))


def test_other_stack_exports_are_not_part_of_the_contract():
    outputs = StackOutputs.from_stack({**OUTPUTS, "redisHost": "10.0.0.3", "internal": "x"})
    assert "redisHost" not in render_json(outputs)
    assert set(ENV_NAMES) == set(json.loads(render_json(outputs)))


def test_a_missing_output_is_named():
    outputs = {k: v for k, v in OUTPUTS.items() if k != "healthUrl"}
    with pytest.raises(StackOutputsError) as caught:
        StackOutputs.from_stack(outputs)
    assert caught.value.problems == ("healthUrl is missing from the stack outputs",)


NOT_SECRET = "; stack outputs for the frontend must not be secret"


@pytest.mark.parametrize(
    ("output", "value", "message"),
    [
        ("apiUrl", "[secret]", "apiUrl (<hidden>) is a Pulumi secret ([secret])"),
        (
            "apiUrl",
            "https://admin:hunter2@api.example.org",
            "apiUrl (<hidden>) carries credentials (user:password@ in a URL)",
        ),
        (
            "dashboardUrl",
            "https://console.example.org/d?access_token=abc123",
            "dashboardUrl (<hidden>) carries a secret-looking query parameter",
        ),
        (
            "healthUrl",
            "https://storage.example.org/h?X-Goog-Signature=abc123",
            "healthUrl (<hidden>) carries a secret-looking query parameter",
        ),
        (
            "region",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "region (<hidden>) looks like a JWT",
        ),
        (
            "corsOrigins",
            ["https://a.example.org", "-----BEGIN PRIVATE KEY-----"],
            "corsOrigins[1] (<hidden>) holds key material (PEM)",
        ),
    ],
)
def test_secret_looking_values_are_refused_and_masked(output, value, message):
    problems = rejected(**{output: value})
    assert problems == (message + NOT_SECRET,)
    secret = value[-1] if isinstance(value, list) else value
    if secret != "[secret]":  # Pulumi's placeholder hides nothing; every other value must not show
        assert secret.split("/")[-1] not in problems[0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"imageRef": "europe-west4-docker.pkg.dev/p/emg/api:latest"},
            "imageRef (europe-west4-docker.pkg.dev/p/emg/api:latest) must reference the image "
            "by digest (<image>@sha256:<64 hex>)",
        ),
        (
            {"apiUrl": "http://api.example.org"},
            "apiUrl (http://api.example.org) must be an https:// URL",
        ),
        (
            {"region": "europe-west4 # comment"},
            "region (europe-west4 # comment) must not contain whitespace, quotes, '$' or '\\' "
            "(env file syntax)",
        ),
        (
            {"apiUrl": "https://api.example.org/$HOME"},
            "apiUrl (https://api.example.org/$HOME) must not contain whitespace, quotes, '$' or "
            "'\\' (env file syntax)",
        ),
        ({"environment": "staging"}, "environment (staging) must be dev or prod"),
        ({"cloud": "azure"}, "cloud (azure) must be gcp or aws"),
    ],
)
def test_values_that_break_the_contract_are_named(changes, message):
    assert rejected(**changes) == (message,)
