"""Plan diff on real snapshot pairs (the committed prod plan, edited) and `emg infra plan diff`."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.plan import MASK
from infra.plan_diff import ABSENT, PlanDiffError, Replacement, diff_snapshots, render_markdown
from infra.policy.engine import Finding, Report
from infra.policy.report import findings_json

SNAPSHOTS = Path(__file__).with_name("snapshots")
EMG = str(Path(sys.executable).with_name("emg"))
SERVICE = ("gcp:cloudrunv2/service:Service", "emg-service-service")
SERVICE_URN = "urn:pulumi:prod::emg-analyzer::emg:gcp:Platform$emg:gcp:Service$" + "::".join(
    SERVICE
)


def _load(stack: str) -> dict:
    return json.loads((SNAPSHOTS / f"plan-{stack}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def prod() -> dict:
    return _load("prod")


def _resource(data: dict, name: str) -> dict:
    return next(r for r in data["resources"] if r["name"] == name)


def _findings(*findings: Finding) -> dict:
    return json.loads(findings_json(Report(list(findings))))


def _finding(rule_id: str, message: str, level: str = "mandatory") -> Finding:
    return Finding(rule_id, f"title of {rule_id}", level, "high", SERVICE_URN, message, "fix it")


def test_no_change_is_one_line(prod) -> None:
    diff = diff_snapshots(prod, copy.deepcopy(prod))
    assert diff.empty
    assert render_markdown(diff, "prod") == (
        "<!-- emg-plan-diff:prod --> No infrastructure change in prod.\n"
    )
    same = _findings(_finding("GCP-1", "ingress is open"))
    assert diff_snapshots(prod, prod, same, copy.deepcopy(same)).empty


def test_changed_property_shows_path_before_and_after(prod) -> None:
    head = copy.deepcopy(prod)
    scaling = _resource(head, SERVICE[1])["inputs"]["template"]["scaling"]
    before = scaling["maxInstanceCount"]
    scaling["maxInstanceCount"] = before + 5
    diff = diff_snapshots(prod, head)
    assert diff.changed == {SERVICE: [("template.scaling.maxInstanceCount", before, before + 5)]}
    assert not (diff.added or diff.removed or diff.replaced or diff.outputs)
    text = render_markdown(diff, "prod")
    assert text.splitlines()[0] == "<!-- emg-plan-diff:prod -->"
    assert "#### Changed (1)" in text
    assert "**`emg-service-service`** (`gcp:cloudrunv2/service:Service`)" in text
    assert f"| `template.scaling.maxInstanceCount` | `{before}` | `{before + 5}` |" in text
    assert "#### Added" not in text and "#### Removed" not in text


def test_added_removed_and_flag_changes(prod) -> None:
    head = copy.deepcopy(prod)
    extra = copy.deepcopy(_resource(head, "emg-secrets-jwt-secret"))
    extra["name"] = "emg-secrets-new-key"
    extra["inputs"]["secretId"] = "emg-new-key"
    head["resources"].append(extra)
    head["resources"].remove(_resource(head, "emg-monitoring-alert-latency"))
    repo = _resource(head, "emg-registry-repository")
    assert repo.pop("protect") is True
    diff = diff_snapshots(prod, head)
    assert [r["name"] for r in diff.added] == ["emg-secrets-new-key"]
    assert [r["name"] for r in diff.removed] == ["emg-monitoring-alert-latency"]
    key = ("gcp:artifactregistry/repository:Repository", "emg-registry-repository")
    assert diff.changed == {key: [("(protect)", True, ABSENT)]}
    text = render_markdown(diff, "prod")
    assert "Resources: 1 added, 1 removed, 0 replaced, 1 changed; 0 outputs changed." in text
    assert "| `emg-secrets-new-key` | `gcp:secretmanager/secret:Secret` | `emg-secrets` |" in text
    assert "| `emg-monitoring-alert-latency` |" in text.split("#### Removed (1)")[1]
    assert "| `(protect)` | `true` | — |" in text


def test_replaced_when_type_or_parent_changes(prod) -> None:
    head = copy.deepcopy(prod)
    _resource(head, "emg-lb-http-redirect")["parent"] = "emg"
    _resource(head, "emg-runtime")["type"] = "gcp:serviceaccount/account:OtherAccount"
    diff = diff_snapshots(prod, head)
    assert not (diff.added or diff.removed or diff.changed)
    assert diff.replaced == [
        Replacement(
            "emg-lb-http-redirect",
            "gcp:compute/uRLMap:URLMap",
            "gcp:compute/uRLMap:URLMap",
            "emg-lb",
            "emg",
        ),
        Replacement(
            "emg-runtime",
            "gcp:serviceaccount/account:Account",
            "gcp:serviceaccount/account:OtherAccount",
            "emg",
            "emg",
        ),
    ]
    text = render_markdown(diff, "prod")
    assert "| `emg-lb-http-redirect` | `gcp:compute/uRLMap:URLMap` | `emg-lb` → `emg` |" in text
    assert (
        "| `emg-runtime` | `gcp:serviceaccount/account:Account` → "
        "`gcp:serviceaccount/account:OtherAccount` | `emg` |"
    ) in text


def test_output_changes_and_secrets_stay_masked(prod) -> None:
    head = copy.deepcopy(prod)
    head["outputs"]["apiUrl"] = "https://api2.emg.example.org"
    del head["outputs"]["region"]
    head["outputs"]["newOutput"] = MASK
    version = _resource(head, "emg-secrets-jwt-secret-version")["inputs"]
    assert version["secretDataWo"] == MASK
    version["deletionPolicy"] = "ABANDON"
    diff = diff_snapshots(prod, head)
    assert diff.outputs == [
        ("apiUrl", prod["outputs"]["apiUrl"], "https://api2.emg.example.org"),
        ("newOutput", ABSENT, MASK),
        ("region", "europe-west4", ABSENT),
    ]
    text = render_markdown(diff, "prod")
    assert "#### Outputs (3)" in text
    assert "| `newOutput` | — | `[secret]` |" in text
    assert "| `region` | `europe-west4` | — |" in text
    assert "plan-placeholder" not in text


def test_long_values_are_truncated_and_pipes_escaped(prod) -> None:
    head = copy.deepcopy(prod)
    _resource(head, "emg-monitoring-dashboard")["inputs"]["dashboardJson"] = "x|" * 200
    text = render_markdown(diff_snapshots(prod, head), "prod")
    row = next(line for line in text.splitlines() if line.startswith("| `dashboardJson`"))
    assert "…" in row and len(row) < 400
    assert "x\\|x" in row


def test_new_and_fixed_findings(prod) -> None:
    kept = _finding("GCP-1", "ingress is open")
    fixed = _finding("GCP-2", "no deletion protection")
    new = _finding("GCP-3", "min TLS 1.0", level="advisory")
    new_blocking = _finding("GCP-4", "public bucket")
    base_findings = _findings(kept, fixed)
    head_findings = _findings(new_blocking, kept, new)
    diff = diff_snapshots(prod, copy.deepcopy(prod), base_findings, head_findings)
    assert [f["rule_id"] for f in diff.new_findings] == ["GCP-3", "GCP-4"]
    assert [f["rule_id"] for f in diff.fixed_findings] == ["GCP-2"]
    text = render_markdown(diff, "prod")
    assert "policy: 2 new (1 blocking), 1 fixed" in text
    new_section = text.split("#### New policy findings (2)")[1].split("#### Fixed")[0]
    assert (
        "- `GCP-4` [mandatory] **blocking** title of GCP-4 on `emg-service-service`: "
        "public bucket (fix: fix it)"
    ) in new_section
    assert "- `GCP-3` [advisory] title of GCP-3" in new_section
    assert "GCP-2" in text.split("#### Fixed policy findings (1)")[1]
    assert "GCP-1" not in text


def test_ordering_is_deterministic(prod) -> None:
    head = copy.deepcopy(prod)
    head["resources"].reverse()
    _resource(head, SERVICE[1])["inputs"]["labels"]["env"] = "staging"
    _resource(head, "emg-lb-armor")["inputs"]["description"] = "changed"
    shuffled = copy.deepcopy(prod)
    shuffled["resources"].reverse()
    assert render_markdown(diff_snapshots(prod, head), "prod") == render_markdown(
        diff_snapshots(shuffled, head), "prod"
    )


def test_dev_against_prod_is_a_real_diff() -> None:
    diff = diff_snapshots(_load("dev"), _load("prod"))
    assert not diff.empty
    changes = dict((p, (old, new)) for p, old, new in diff.changed[SERVICE])
    assert changes["labels.env"] == ("dev", "prod")
    assert ("environment", "dev", "prod") in diff.outputs
    text = render_markdown(diff, "prod")
    assert text.startswith("<!-- emg-plan-diff:prod -->\n### Plan diff: `prod`\n")
    assert len(text) < 65_000  # fits a GitHub comment
    assert "The stack moves" not in text


def test_a_stack_moving_to_another_cloud_is_called_out() -> None:
    diff = diff_snapshots(_load("prod"), _load("prod-aws"))
    assert ("cloud", "gcp", "aws") in diff.outputs
    assert len(diff.added) > 50 and diff.removed
    text = render_markdown(diff, "prod")
    assert (
        "> **The stack moves from gcp to aws**: its cloud resources are all replaced. Put the "
        'other cloud in a new stack instead (README, "Put a stack on AWS").'
    ) in text


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ([], "base: not a plan snapshot"),
        ({"version": 99, "resources": []}, "base: snapshot version 99"),
        ({"version": 1, "resources": [{"name": "x"}]}, "base: resource without type and name"),
        (
            {"version": 1, "resources": [{"type": "t:m:R", "name": "x"}] * 2},
            r"base: resource x \(t:m:R\) is listed twice",
        ),
        ({"version": 1, "stack": ["dev"], "resources": []}, "base: stack is not a name"),
        ({"version": True, "resources": []}, "base: snapshot version True"),
        (
            {"version": 1, "resources": [{"type": "t:m:R", "name": "x", "inputs": [1]}]},
            "base: inputs of x are not an object",
        ),
    ],
)
def test_invalid_snapshots_are_refused(prod, snapshot, message) -> None:
    with pytest.raises(PlanDiffError, match=message):
        diff_snapshots(snapshot, prod)


@pytest.mark.parametrize(
    "findings",
    [
        {"findings": "nope"},
        {"findings": [{"title": "no rule id"}]},
        {"findings": [{"rule_id": "G1", "blocking": "no"}]},
        {"findings": [{"rule_id": "G1", "urn": 5}]},
        {"findings": [{"rule_id": "G1", "message": ["m"]}]},
    ],
)
def test_invalid_findings_are_refused(prod, findings) -> None:
    with pytest.raises(PlanDiffError, match="head findings: not a findings file"):
        diff_snapshots(prod, prod, None, findings)


def _emg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EMG, *args], capture_output=True, text=True, timeout=60)


def test_cli_plan_diff_over_real_files(tmp_path, prod) -> None:
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    base.write_text(json.dumps(prod))
    edited = copy.deepcopy(prod)
    _resource(edited, SERVICE[1])["inputs"]["template"]["scaling"]["maxInstanceCount"] = 50
    head.write_text(json.dumps(edited))
    base_findings, head_findings = tmp_path / "bf.json", tmp_path / "hf.json"
    base_findings.write_text(findings_json(Report([])))
    head_findings.write_text(findings_json(Report([_finding("GCP-9", "new problem")])))
    result = _emg(
        "infra",
        "plan",
        "diff",
        str(base),
        str(head),
        "--stack",
        "prod",
        "--base-findings",
        str(base_findings),
        "--head-findings",
        str(head_findings),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<!-- emg-plan-diff:prod -->\n")
    assert "| `template.scaling.maxInstanceCount` |" in result.stdout
    assert "`GCP-9`" in result.stdout
    result = _emg("infra", "plan", "diff", str(base), str(base))
    assert (result.returncode, result.stdout) == (
        0,
        "<!-- emg-plan-diff:prod --> No infrastructure change in prod.\n",
    )


def test_cli_plan_diff_bad_input_exits_2_with_one_line(tmp_path) -> None:
    good = SNAPSHOTS / "plan-prod.json"
    not_json = tmp_path / "broken.json"
    not_json.write_text("{not json")
    not_findings = tmp_path / "findings.json"
    not_findings.write_text('{"findings": "nope"}')
    cases = [
        ([str(tmp_path / "missing.json"), str(good)], "base", "No such file or directory"),
        ([str(good), str(not_json)], "head", "not JSON"),
        ([str(good), str(good), "--head-findings", str(not_findings)], "head findings", ""),
        (
            [str(SNAPSHOTS / "plan-dev.json"), str(good)],
            "base",
            "is a plan of stack dev, head ",
        ),
    ]
    for args, label, reason in cases:
        result = _emg("infra", "plan", "diff", *args)
        assert result.returncode == 2, result
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"emg: error: {label} "), lines
        assert reason in lines[0] and "Traceback" not in result.stderr


def test_cli_plan_diff_checks_the_stack_it_names_the_comment_after(tmp_path, prod) -> None:
    good = str(SNAPSHOTS / "plan-prod.json")
    result = _emg("infra", "plan", "diff", good, good, "--stack", "dev")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "emg: error: --stack dev: the plans are of stack prod\n"
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps({k: v for k, v in prod.items() if k != "stack"}))
    for stack in ("prod -->`x`", ""):
        result = _emg("infra", "plan", "diff", str(nameless), str(nameless), "--stack", stack)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr.startswith(
            f"emg: error: stack name {stack!r} must be letters, digits, '_', '.' or '-'"
        )
    result = _emg("infra", "plan", "diff", str(nameless), str(nameless), "--stack", "prod")
    assert (result.returncode, result.stdout) == (
        0,
        "<!-- emg-plan-diff:prod --> No infrastructure change in prod.\n",
    )


def test_cli_plan_diff_reads_one_plan_from_standard_input() -> None:
    good = SNAPSHOTS / "plan-prod.json"
    command = [EMG, "infra", "plan", "diff", "-", str(good)]
    result = subprocess.run(command, input=good.read_text(), capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (
        0,
        "<!-- emg-plan-diff:prod --> No infrastructure change in prod.\n",
    )
    result = subprocess.run([*command[:-1], "-"], input="{}", capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (
        2,
        "emg: error: only one input can come from standard input (-)\n",
    )


def test_cli_plan_still_requires_a_stack() -> None:
    result = _emg("infra", "plan")
    assert result.returncode == 2
    assert "required: --stack" in result.stderr and "Traceback" not in result.stderr
