"""The rule engine on hand-made resources, and `emg infra plan --policy` on the committed stacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.policy.engine import (
    SECRET_SIG,
    UNKNOWN_VALUE,
    Context,
    Resource,
    ResourceRule,
    StackRule,
    Suppression,
    Unknown,
    evaluate,
)
from infra.policy.report import findings_json, render_text, sarif

EMG = str(Path(sys.executable).with_name("emg"))
PROD = Context("prod", "prod")
DEV = Context("dev", "dev")


def _resource(props: dict, name: str = "svc") -> Resource:
    return Resource(f"urn:pulumi:prod::emg-analyzer::t:m:T::{name}", "t:m:T", name, props)


def _rule(scope: str = "all", level: str = "mandatory") -> ResourceRule:
    def check(resource: Resource, _context: Context):
        if resource.get("spec.enabled") is not True:
            yield f"spec.enabled is {resource.get('spec.enabled')!r}, must be true"

    return ResourceRule("T1", "enabled", ("t:m:T",), level, "high", scope, "enable it", check)


def test_get_follows_paths_lists_and_unwraps_secrets() -> None:
    r = _resource({"a": {"b": [{"c": 1}, {"c": {SECRET_SIG: "x", "value": "s3"}}]}})
    assert r.get("a.b[0].c") == 1
    assert r.get("a.b[1].c") == "s3"
    assert r.get("a.b[5].c", "missing") == "missing"
    assert r.get("a.x.y") is None


def test_get_raises_unknown_for_values_known_only_after_apply() -> None:
    with pytest.raises(Unknown) as caught:
        _resource({"a": {"b": UNKNOWN_VALUE}}).get("a.b")
    assert caught.value.path == "a.b"


def test_evaluate_reports_violation_and_passes_compliant_resource() -> None:
    report = evaluate(
        [_resource({"spec": {"enabled": True}}, "ok"), _resource({"spec": {}}, "bad")],
        PROD,
        [_rule()],
    )
    assert [(f.urn.split("::")[-1], f.message) for f in report.findings] == [
        ("bad", "spec.enabled is None, must be true")
    ]
    assert len(report.blocking) == 1


def test_unknown_value_is_a_blocking_finding_not_a_pass() -> None:
    report = evaluate([_resource({"spec": {"enabled": UNKNOWN_VALUE}})], PROD, [_rule()])
    (finding,) = report.findings
    assert finding.unknown and finding.blocking
    assert finding.message == "cannot judge: spec.enabled is unknown before apply"


def test_scope_and_advisory_level() -> None:
    bad = [_resource({"spec": {}})]
    assert evaluate(bad, DEV, [_rule(scope="prod")]).findings == []
    advisory = evaluate(bad, PROD, [_rule(level="advisory")])
    assert len(advisory.findings) == 1 and advisory.blocking == []


def test_suppression_needs_a_reason_and_stops_blocking() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        Suppression("T1", "*::svc", "  ")
    suppression = Suppression("T1", "*::svc", "accepted until the migration, ticket 12")
    report = evaluate([_resource({"spec": {}})], PROD, [_rule()], [suppression])
    (finding,) = report.findings
    assert finding.suppressed_because == "accepted until the migration, ticket 12"
    assert report.blocking == []


def test_stack_rule_sees_all_resources() -> None:
    def two_needed(resources, _context):
        if len(resources) < 2:
            yield None, f"needs two resources, found {len(resources)}"

    rule = StackRule("S1", "two", "mandatory", "low", "all", "add one", two_needed)
    (finding,) = evaluate([_resource({})], PROD, [rule]).findings
    assert (finding.urn, finding.message) == (None, "needs two resources, found 1")


def test_reports_render_as_text_json_and_sarif() -> None:
    rule = _rule()
    report = evaluate([_resource({"spec": {}})], PROD, [rule])
    text = render_text(report)
    assert "[mandatory] T1 enabled: svc" in text and "fix: enable it" in text
    assert json.loads(findings_json(report))["blocking"] == 1
    document = json.loads(sarif(report, [rule], "Pulumi.prod.yaml"))
    run = document["runs"][0]
    assert document["version"] == "2.1.0"
    assert run["tool"]["driver"]["rules"][0]["id"] == "T1"
    (result,) = run["results"]
    assert result["level"] == "error"
    assert (
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.prod.yaml"
    )


def test_sarif_marks_a_suppression_as_kept_outside_the_analysed_file() -> None:
    rule = _rule()
    suppression = Suppression("T1", "*::svc", "accepted until the migration, ticket 12")
    report = evaluate([_resource({"spec": {}})], PROD, [rule], [suppression])
    (result,) = json.loads(sarif(report, [rule], "Pulumi.prod.yaml"))["runs"][0]["results"]
    # The reason lives in the policy config, not in Pulumi.prod.yaml: "external" in SARIF 2.1.0.
    assert result["suppressions"] == [
        {"kind": "external", "justification": "accepted until the migration, ticket 12"}
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cli_policy_passes_committed_stack_and_writes_json_and_sarif(stack: str, tmp_path) -> None:
    findings, sarif_file = tmp_path / "f.json", tmp_path / "f.sarif"
    result = subprocess.run(
        [
            EMG,
            "infra",
            "plan",
            "--stack",
            stack,
            "--quiet",
            "--policy",
            "--findings",
            str(findings),
            "--sarif",
            str(sarif_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 blocking" in result.stdout
    assert json.loads(findings.read_text())["blocking"] == 0
    assert json.loads(sarif_file.read_text())["version"] == "2.1.0"


def test_cli_findings_without_policy_is_refused() -> None:
    result = subprocess.run(
        [EMG, "infra", "plan", "--stack", "dev", "--findings", "x.json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "emg: error: --findings, --sarif and --policy-config need --policy\n"


def test_check_plan_blocks_a_planted_violation_and_missing_output() -> None:
    import copy

    from infra.plan import plan_stack
    from infra.policy.offline import check_plan

    plan = copy.deepcopy(plan_stack("prod"))
    (service,) = [r for r in plan.run.resources if r.type == "gcp:cloudrunv2/service:Service"]
    service.inputs["ingress"] = "INGRESS_TRAFFIC_ALL"
    del plan.run.outputs["healthUrl"]
    report = check_plan(plan, PROD)
    blocking = {(f.rule_id, (f.urn or "stack").split("::")[-1]) for f in report.blocking}
    assert ("G1", service.name) in blocking
    assert ("X3", "stack") in blocking
