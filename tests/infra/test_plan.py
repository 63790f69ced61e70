"""The offline plan of the committed stacks: golden snapshots, the outputs contract, the CLI."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.plan import MASK, plan_stack, render_tree, snapshot, snapshot_json
from stacks.errors import StackConfigError
from stacks.loader import PROJECT_ROOT
from stacks.outputs import ENV_NAMES, StackOutputs

SNAPSHOTS = Path(__file__).with_name("snapshots")
STACKS = ["dev", "prod"]
# Each committed stack on its own cloud (gcp) and on the other one (`--cloud aws`).
VARIANTS = [(stack, cloud) for cloud in ("gcp", "aws") for stack in STACKS]
EMG = str(Path(sys.executable).with_name("emg"))


def snapshot_name(stack: str, cloud: str) -> str:
    return f"plan-{stack}.json" if cloud == "gcp" else f"plan-{stack}-{cloud}.json"


@functools.cache
def planned_snapshot(stack: str, cloud: str) -> dict:
    return snapshot(plan_stack(stack, cloud=cloud))


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: f"{v[0]}-{v[1]}")
def planned(request) -> tuple[str, dict]:
    stack, cloud = request.param
    return stack, planned_snapshot(stack, cloud)


@pytest.mark.parametrize("stack", STACKS)
def test_both_clouds_export_the_same_outputs(stack) -> None:
    gcp, aws = (planned_snapshot(stack, cloud)["outputs"] for cloud in ("gcp", "aws"))
    assert sorted(gcp) == sorted(aws) == sorted(ENV_NAMES)
    different = {k for k in gcp if gcp[k] != aws[k]}
    # Only what names a place in one cloud differs; what the frontend is told about the API
    # itself (its URL, its origins, its environment) is the same on both.
    assert different == {"cloud", "region", "imageRef", "dashboardUrl"}


def test_plan_matches_golden_snapshot(planned, request) -> None:
    """Every infrastructure change shows up here; refresh with --update-snapshots on purpose."""
    stack, data = planned
    path = SNAPSHOTS / snapshot_name(stack, data["outputs"]["cloud"])
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if request.config.getoption("--update-snapshots"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}: run pytest --update-snapshots and review it"
    assert text == path.read_text(encoding="utf-8"), (
        f"plan of {stack} differs from {path.name}; if intended: pytest --update-snapshots"
    )


def test_plan_is_deterministic() -> None:
    assert snapshot_json(plan_stack("dev")) == snapshot_json(plan_stack("dev"))


def test_plan_outputs_meet_frontend_contract(planned) -> None:
    """One contract for both clouds: the same names, the same meaning, nothing secret."""
    stack, data = planned
    outputs = StackOutputs.from_stack(data["outputs"])
    assert outputs.environment == stack
    assert outputs.region == {"gcp": "europe-west4", "aws": "eu-west-1"}[outputs.cloud]
    assert outputs.dashboard_url.startswith(
        "https://console.cloud.google.com/"
        if outputs.cloud == "gcp"
        else "https://eu-west-1.console.aws.amazon.com/cloudwatch/"
    )
    assert outputs.api_url.startswith("https://api.")
    assert outputs.health_url == outputs.api_url + "/health"
    assert "@sha256:" in outputs.image_ref
    assert MASK not in json.dumps(data["outputs"])


def test_plan_never_shows_a_secret_value(planned) -> None:
    stack, data = planned
    text = json.dumps(data)
    assert "plan-placeholder" not in text, f"a secret of {stack} leaked into the plan"
    assert "mock-redis-auth-string" not in text and "mock-ecr-password" not in text
    assert MASK in text  # the secret versions are there, masked


def test_plan_refuses_bad_configuration_before_running(tmp_path) -> None:
    source = (PROJECT_ROOT / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(
        source.replace("emg-analyzer:minInstances: 0", "emg-analyzer:minInstances: 5")
    )
    with pytest.raises(
        StackConfigError, match=r"emg-analyzer:maxInstances \(2\) must be >= minInstances \(5\)"
    ):
        plan_stack("dev", root=tmp_path)


def test_render_tree_lists_components_and_outputs() -> None:
    text = render_tree(plan_stack("prod"))
    assert text.startswith("Plan of stack prod on gcp: ")
    assert "+ emg:gcp:Platform  emg" in text
    assert "gcp:cloudrunv2/service:Service" in text
    assert "Outputs:" in text and "apiUrl" in text


def test_cli_plan_prints_tree_and_writes_snapshot(tmp_path) -> None:
    out = tmp_path / "dev.json"
    result = subprocess.run(
        [EMG, "infra", "plan", "--stack", "dev", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Plan of stack dev" in result.stdout
    assert json.loads(out.read_text()) == snapshot(plan_stack("dev"))
    assert "planned in" in result.stderr


def test_cli_plan_of_unknown_stack_exits_2_with_one_line() -> None:
    result = subprocess.run(
        [EMG, "infra", "plan", "--stack", "nope"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert (
        result.stderr.startswith("emg: error: ")
        and "Pulumi.nope.yaml does not exist" in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [("infra", "plan"), ("stack", "outputs")])
def test_cli_refuses_a_stack_name_that_is_a_path(command) -> None:
    result = subprocess.run(
        [EMG, *command, "--stack", "../../Pulumi.up"], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (
        2,
        "emg: error: stack name '../../Pulumi.up' must be letters, digits, '_', '.' or '-'\n",
    )


def test_cli_stack_outputs_env_from_plan_and_from_pulumi_json(tmp_path) -> None:
    result = subprocess.run(
        [EMG, "stack", "outputs", "--stack", "dev", "--format", "env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert lines["VITE_API_URL"].startswith("https://api.")
    assert lines["VITE_ENVIRONMENT"] == "dev"
    pulumi_json = tmp_path / "outputs.json"
    data = snapshot(plan_stack("prod"))["outputs"]
    pulumi_json.write_text(json.dumps({**data, "somethingElse": 1}))
    result = subprocess.run(
        [
            EMG,
            "stack",
            "outputs",
            "--stack",
            "prod",
            "--format",
            "json",
            "--from",
            str(pulumi_json),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["environment"] == "prod"
    assert "somethingElse" not in result.stdout


def test_cli_plan_json_to_stdout_and_to_a_missing_folder(tmp_path) -> None:
    result = subprocess.run(
        [EMG, "infra", "plan", "--stack", "dev", "--json", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == snapshot(plan_stack("dev"))
    result = subprocess.run(
        [
            EMG,
            "infra",
            "plan",
            "--stack",
            "dev",
            "--quiet",
            "--json",
            str(tmp_path / "no" / "x.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "emg: error: --json" in result.stderr and "Traceback" not in result.stderr


def test_cli_stack_outputs_refuses_another_stacks_outputs(tmp_path) -> None:
    prod_outputs = tmp_path / "prod.json"
    prod_outputs.write_text(json.dumps(snapshot(plan_stack("prod"))["outputs"]))
    result = subprocess.run(
        [EMG, "stack", "outputs", "--stack", "dev", "--from", str(prod_outputs)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "these outputs are of a prod stack, not of dev (dev)" in result.stderr


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("not json", "not JSON (Expecting value)"),
        (
            '{"apiUrl": "https://a.example.org", "apiUrl": "https://b.example.org"}',
            "key 'apiUrl' is given twice",
        ),
        ("[1]", "not `pulumi stack output --json` output (a JSON object of outputs)"),
    ],
)
def test_cli_stack_outputs_refuses_what_is_not_one_json_object(given, problem) -> None:
    result = subprocess.run(
        [EMG, "stack", "outputs", "--stack", "dev", "--from", "-"],
        input=given,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (2, f"emg: error: --from -: {problem}\n")


def test_cli_plans_a_stack_on_the_other_cloud_with_its_policy(tmp_path) -> None:
    findings = tmp_path / "findings.json"
    command = [EMG, "infra", "plan", "--stack", "prod", "--cloud", "aws", "--quiet", "--policy"]
    result = subprocess.run(
        [*command, "--findings", str(findings)],
        capture_output=True,
        text=True,
        timeout=120,
        # Shown, so an event loop of the mocks left for the exit to collect would be seen.
        env={**os.environ, "PYTHONWARNINGS": "default::ResourceWarning"},
    )
    assert result.returncode == 0, result.stderr
    assert "stack prod on aws: " in result.stderr
    assert "ResourceWarning" not in result.stderr, result.stderr
    assert "policy: 0 findings, 0 blocking" in result.stdout
    assert json.loads(findings.read_text()) == {"findings": [], "blocking": 0}


def test_cli_stack_outputs_on_the_other_cloud_and_refuses_cloud_with_from(tmp_path) -> None:
    result = subprocess.run(
        [EMG, "stack", "outputs", "--stack", "dev", "--cloud", "aws", "--format", "env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "VITE_CLOUD=aws\n" in result.stdout and "VITE_REGION=eu-west-1\n" in result.stdout
    result = subprocess.run(
        [EMG, "stack", "outputs", "--stack", "dev", "--cloud", "aws", "--from", "-"],
        input="{}",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (
        2,
        "emg: error: --cloud plans the stack; outputs read --from a file already name their "
        "cloud\n",
    )


def test_cli_plan_on_a_cloud_the_stack_file_has_no_settings_for_names_them(tmp_path) -> None:
    source = (PROJECT_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    kept = [line for line in source.splitlines() if "awsHostedZoneId" not in line]
    (tmp_path / "Pulumi.dev.yaml").write_text("\n".join(kept) + "\n", encoding="utf-8")
    with pytest.raises(StackConfigError) as caught:
        plan_stack("dev", root=tmp_path, cloud="aws")
    assert caught.value.problems == (
        "emg-analyzer:awsHostedZoneId is required when cloud is aws: set it with "
        "`pulumi config set emg-analyzer:awsHostedZoneId <route53-zone-id>`",
    )


def test_cli_policy_writes_findings_or_sarif_to_stdout_and_lists_x3() -> None:
    command = [EMG, "infra", "plan", "--stack", "dev", "--quiet", "--policy"]
    result = subprocess.run([*command, "--sarif", "-"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rules = json.loads(result.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules][-3:] == ["X1", "X2", "X3"]
    assert "policy: 0 findings, 0 blocking" in result.stderr
    result = subprocess.run(
        [*command, "--findings", "-", "--json", "-"], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (
        2,
        "emg: error: only one of --json and --findings can write to standard output\n",
    )


def test_cli_refuses_two_outputs_to_one_file_and_a_json_key_given_twice(tmp_path) -> None:
    command = [EMG, "infra", "plan", "--stack", "dev", "--quiet", "--policy"]
    same = [*command, "--json", str(tmp_path / "out.json"), "--sarif", f"{tmp_path}/./out.json"]
    result = subprocess.run(same, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (
        2,
        "emg: error: --json and --sarif name the same file\n",
    )
    stack_file = str(PROJECT_ROOT / "Pulumi.dev.yaml")
    result = subprocess.run([*command, "--json", stack_file], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (
        2,
        "emg: error: --json and Pulumi.dev.yaml name the same file\n",
    )
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").hardlink_to(tmp_path / "a.json")
    linked = [
        *command,
        "--policy-config",
        str(tmp_path / "a.json"),
        "--sarif",
        f"{tmp_path}/b.json",
    ]
    result = subprocess.run(linked, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (
        2,
        "emg: error: --sarif and --policy-config name the same file\n",
    )
    config = tmp_path / "policy.json"  # json.loads would keep the second X2 silently
    config.write_text('{"X2": {"suppressions": []}, "X2": {}}')
    result = subprocess.run(
        [*command, "--policy-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (
        2,
        f"emg: error: --policy-config {config}: key 'X2' is given twice\n",
    )


def test_cli_policy_config_suppressions_need_a_reason(tmp_path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"A6": {"suppressions": [{"urn": "*"}]}}))
    result = subprocess.run(
        [EMG, "infra", "plan", "--stack", "dev", "--quiet", "--policy", "--policy-config", config],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (
        2,
        f"emg: error: --policy-config {config}: suppression of A6 on * needs a reason\n",
    )


def test_offline_policy_applies_the_pack_configs_suppressions(tmp_path) -> None:
    from infra.policy.engine import Context
    from infra.policy.offline import check_plan
    from infra.policy.pack import config_suppressions

    source = (PROJECT_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        source.replace("deletionProtection: false", "deletionProtection: true"), encoding="utf-8"
    )
    plan = plan_stack("dev", root=tmp_path, cloud="aws")
    context = Context("dev", "dev", "aws")
    (finding,) = check_plan(plan, context).findings
    assert (finding.rule_id, finding.urn.rsplit("::", 1)[-1]) == ("X2", "emg-lb-alb")
    reason = "a dev stack kept for a demo"
    config = {"X2": {"suppressions": [{"urn": "*::emg-lb-alb", "reason": reason}]}}
    (suppressed,) = check_plan(plan, context, config_suppressions(config, {"X2"})).findings
    assert suppressed.suppressed_because == reason and not suppressed.blocking


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"Z9": {}}, "Z9 is not a rule id (rules: A1, A2, A10, X2)"),
        ({"X3": {}}, "X3 cannot be suppressed: the frontend reads those stack outputs"),
        (
            {"X2": {"suppressions": [{"urn": "*", "reson": "typo"}]}},
            "X2.suppressions[0]: key 'reson' is not allowed (a suppression holds urn and reason)",
        ),
        (
            {"X2": {"suppressions": [{"urn": "*", "reason": True}]}},
            "X2.suppressions[0]: reason must be text, not True",
        ),
        ({"X2": {"suppressions": None}}, "X2.suppressions must be a list of {urn, reason}"),
        ({"X2": {"suppresions": []}}, "X2: key 'suppresions' is not allowed"),
        ({"X2": "advisory"}, "X2: 'advisory' is not allowed"),
        ({"X2": {"enforcementLevel": "disabled"}}, "X2: key 'enforcementLevel' is not allowed"),
    ],
)
def test_a_policy_config_is_taken_whole_or_refused(config, message) -> None:
    from infra.policy.pack import config_suppressions

    with pytest.raises(ValueError) as caught:
        config_suppressions(config, {"A1", "A2", "A10", "X2"})
    assert str(caught.value).startswith(message)
