"""The policy pack (infra/policy): its adapter, `infra.policy.pack`, tested in .venv without
pulumi_policy, and the pack itself (__main__.py) run by pulumi_policy from its own virtualenv.

- Each rule of the stack's cloud becomes exactly one policy, named by its id, with its enforcement
  level and severity; repeated ids are refused.
- The committed dev and prod stacks, planned on GCP and on AWS, with violations, values unknown
  before apply and a suppression planted: the pack reports exactly what the engine reports (the
  offline check but X3) on what a pack is shown (no retainOnDelete). Unknowns are cannot-judge
  violations at the rule's level. On the clean plans, the same holds against `check_plan`.
- Suppressions need a urn and a reason; the environment and cloud come from the stack's settings
  or its name; stack rules ignore components; only __main__.py imports pulumi_policy.
- The real pack, started from infra/policy/venv (`make policy-venv`) as the Pulumi CLI starts it
  and driven over gRPC with the same stacks. Without that virtualenv it skips and says why, except
  under CI=true where it fails.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from infra.plan import Plan, plan_stack
from infra.policy import aws_rules
from infra.policy.engine import (
    SECRET_SIG,
    UNKNOWN_VALUE,
    Context,
    Resource,
    ResourceRule,
    Suppression,
    evaluate,
)
from infra.policy.offline import check_plan, policy_resources
from infra.policy.pack import (
    ENFORCEMENT,
    PACK_NAME,
    SEVERITY,
    SUPPRESSION_SCHEMA,
    UNKNOWN_SENTINELS,
    engine_value,
    policy_specs,
    stack_context,
    suppressions,
)
from infra.policy.rules import rules_for
from tests.conftest import IN_CI, REPO
from tests.infra.tokens import HTTPS_PROXY, REDIS, REPOSITORY, SECRET, SERVICE

PACK_DIR = REPO / "infra" / "policy"
PACK_PYTHON = PACK_DIR / "venv" / "bin" / "python"
CLIENT = REPO / "tests" / "infra" / "policy_pack_client.py"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # how the engine sends any unknown value
DELETE = object()
STACKS = [("dev", "gcp"), ("prod", "gcp"), ("dev", "aws"), ("prod", "aws")]
# Planted per cloud: (type, property path, value): a resource rule's violation (suppressed in
# prod), a resource rule and a stack rule meeting an unknown value, a missing label or tag.
PLANTED = {
    "gcp": [
        (SERVICE, "ingress", "INGRESS_TRAFFIC_ALL"),
        (REDIS, "authEnabled", UNKNOWN_VALUE),
        (HTTPS_PROXY, "sslPolicy", UNKNOWN_VALUE),
        (REPOSITORY, "labels.owner", DELETE),
    ],
    "aws": [
        (aws_rules.REPOSITORY, "imageTagMutability", "MUTABLE"),
        (aws_rules.CACHE, "atRestEncryptionEnabled", UNKNOWN_VALUE),
        (aws_rules.TASK_DEFINITION, "executionRoleArn", UNKNOWN_VALUE),
        (aws_rules.LOAD_BALANCER, "tags.owner", DELETE),
    ],
}
SUPPRESSED = {"gcp": ("G1", SERVICE), "aws": ("A1", aws_rules.REPOSITORY)}
CANNOT_JUDGE = {"gcp": {("G12", True), ("G18", False)}, "aws": {("A12", True), ("A9", False)}}
PROTECTED_IN_DEV = {"gcp": SECRET, "aws": aws_rules.SECRET}  # X2's protect finding in dev


@dataclass(frozen=True)
class Case:
    """One stack as the engine sees it with violations planted, and what else a pack sees."""

    plan: Plan
    resources: list[Resource]  # the plan's custom resources, violations planted
    components: list[Resource]  # shown to a pack too (protected in dev: X2 must not see them)
    config: dict[str, Any]  # policy config: one suppression in prod
    environ: dict[str, str]  # what the Pulumi CLI passes the pack process

    @property
    def context(self) -> Context:
        return Context(self.plan.stack, self.plan.stack, self.plan.cloud)  # type: ignore[arg-type]


def put(props: dict, path: str, value: Any) -> None:
    *parents, key = path.split(".")
    for part in parents:
        props = props[part]
    assert key in props, f"the plan has no {path} to plant on"
    if value is DELETE:
        del props[key]
    else:
        props[key] = value


def planted(plan: Plan) -> list[Resource]:
    out = []
    for resource in policy_resources(plan):
        props, protect = copy.deepcopy(dict(resource.props)), resource.protect
        for type_token, path, value in PLANTED[plan.cloud]:
            if resource.type == type_token:
                put(props, path, value)
        if plan.stack == "dev" and resource.type == PROTECTED_IN_DEV[plan.cloud]:
            protect = True
        out.append(dataclasses.replace(resource, props=props, protect=protect))
    return out


@pytest.fixture(scope="module")
def cases() -> dict[tuple[str, str], Case]:
    found = {}
    for stack, cloud in STACKS:
        plan = plan_stack(stack, cloud=cloud)
        resources = planted(plan)
        rule_id, type_token = SUPPRESSED[cloud]
        (target,) = [r for r in resources if r.type == type_token]
        found[stack, cloud] = Case(
            plan,
            resources,
            [
                Resource(r.urn, r.type, r.name, {}, protect=stack == "dev")
                for r in plan.run.resources
                if not r.custom
            ],
            {rule_id: {"suppressions": [{"urn": target.urn, "reason": "planted"}]}}
            if stack == "prod"
            else {},
            {
                "PULUMI_STACK": stack,
                "PULUMI_PROJECT": "emg-analyzer",
                "PULUMI_DRY_RUN": "true",
                "PULUMI_CONFIG": json.dumps(
                    {"emg-analyzer:cloud": cloud, "emg-analyzer:environment": stack}
                ),
            },
        )
    return found


def case_id(case: tuple[str, str]) -> str:
    return "-".join(case)


# --- what the engine reports, and what a pack is shown ------------------------------------------


def engine_findings(
    case: Case, retain_visible: bool = True, title: bool = False
) -> set[tuple[str, str | None, str]]:
    """(rule, urn, message) of every unsuppressed finding on the case's resources, worded as the
    pack words it; with ``retain_visible`` False, as a pack sees them (no retainOnDelete)."""
    resources = case.resources
    if not retain_visible:
        resources = [dataclasses.replace(r, retain_on_delete=False) for r in resources]
    given = [
        Suppression(rule_id, s["urn"], s["reason"])
        for rule_id, config in case.config.items()
        for s in config["suppressions"]
    ]
    report = evaluate(resources, case.context, rules_for(case.plan.cloud), given)
    return {
        (f.rule_id, f.urn, (f"{f.title}\n" if title else "") + f"{f.message}\nfix: {f.remediation}")
        for f in report.findings
        if f.suppressed_because is None
    }


def wire(value: Any, unwrap_secrets: bool = False) -> Any:
    """Properties as the engine sends them to a pack (unknowns as the unknown sentinel), or, with
    ``unwrap_secrets``, as pulumi_policy then hands them to a policy (proxies aside: the real
    pack's test has those)."""
    if value is UNKNOWN_VALUE:
        return UNKNOWN_STRING
    if isinstance(value, dict):
        if unwrap_secrets and SECRET_SIG in value:
            return wire(value["value"], unwrap_secrets)
        return {k: wire(v, unwrap_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v, unwrap_secrets) for v in value]
    return value


def shown(resource: Resource, custom: bool, config: dict) -> SimpleNamespace:
    """A resource as pulumi_policy shows it: ResourceValidationArgs and PolicyResource alike."""
    return SimpleNamespace(
        urn=resource.urn,
        resource_type=resource.type,
        name=resource.name,
        props=wire(dict(resource.props), unwrap_secrets=True),
        opts=SimpleNamespace(protect=resource.protect),
        provider=SimpleNamespace(type="pulumi:providers:x") if custom else None,
        get_config=lambda: config,
    )


def run_pack(
    environ: dict[str, str], resources: list[Resource], components: list[Resource], config: dict
) -> set[tuple[str, str | None, str]]:
    """Every policy on every resource (Analyze) and on the stack (AnalyzeStack), as the pack
    would run them; (policy, urn, message) reported."""
    found: set[tuple[str, str | None, str]] = set()
    everything = [(r, True) for r in resources] + [(r, False) for r in components]
    for spec in policy_specs(environ):
        policy_config = config.get(spec.name, {})

        def report(message: str, urn: str | None = None, name: str = spec.name) -> None:
            found.add((name, urn, message))

        if spec.kind == "resource":
            for resource, custom in everything:
                spec.validate(shown(resource, custom, policy_config), report)
        else:
            views = [shown(r, custom, policy_config) for r, custom in everything]
            spec.validate(
                SimpleNamespace(resources=views, get_config=lambda c=policy_config: c), report
            )
    return found


def only_retain_differs(
    pack: set[tuple[str, str | None, str]], offline: set[tuple[str, str | None, str]]
) -> None:
    """The pack and the offline check may differ only where X2 reads retainOnDelete (a pack is
    not told it); the committed stacks set protect wherever they set it, so nowhere."""
    differ = pack ^ offline
    assert all(r == "X2" and "retainOnDelete" in m for r, _, m in differ), sorted(differ)


# --- specs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["gcp", "aws"])
def test_every_rule_of_the_stacks_cloud_becomes_exactly_one_policy(cloud: str) -> None:
    environ = {
        "PULUMI_PROJECT": "emg-analyzer",
        "PULUMI_CONFIG": f'{{"emg-analyzer:cloud": "{cloud}"}}',
    }
    rules = rules_for(cloud)
    specs = policy_specs(environ)
    assert [s.name for s in specs] == [r.id for r in rules]
    for spec, rule in zip(specs, rules, strict=True):
        kind = "resource" if isinstance(rule, ResourceRule) else "stack"
        assert spec.kind == kind, f"{rule.id}: {spec.kind}, expected {kind}"
        assert (
            spec.enforcement_level == {"mandatory": "MANDATORY", "advisory": "ADVISORY"}[rule.level]
        ), rule.id
        assert spec.severity == rule.severity.upper(), rule.id
        assert (spec.description, spec.remediation) == (rule.title, rule.remediation), rule.id
        assert spec.config_schema == SUPPRESSION_SCHEMA, rule.id
    assert set(ENFORCEMENT) == {"mandatory", "advisory"}
    assert set(SEVERITY) == {"critical", "high", "medium", "low"}


def test_repeated_rule_ids_are_refused() -> None:
    gcp = rules_for("gcp")
    with pytest.raises(ValueError, match=r"must be unique: \['G1'\] repeat"):
        policy_specs({}, rules=gcp + gcp[:1])


@pytest.mark.parametrize(
    ("stack", "settings", "expected"),
    [
        ("dev", {}, ("dev", "gcp")),
        ("prod-eu", {}, ("prod", "gcp")),
        ("alice", {"emg-analyzer:environment": "dev", "emg-analyzer:cloud": "aws"}, ("dev", "aws")),
        (
            "prod",
            {"emg-analyzer:environment": "prod", "emg-analyzer:cloud": "gcp"},
            ("prod", "gcp"),
        ),
    ],
)
def test_environment_and_cloud_come_from_the_stack_settings_then_its_name(
    stack: str, settings: dict, expected: tuple[str, str]
) -> None:
    environ = {
        "PULUMI_STACK": stack,
        "PULUMI_PROJECT": "emg-analyzer",
        "PULUMI_CONFIG": json.dumps(settings),
    }
    context = stack_context(environ)
    assert (context.stack, context.environment, context.cloud) == (stack, *expected), stack


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"PULUMI_STACK": "staging", "PULUMI_PROJECT": "emg-analyzer"},
            "cannot tell the environment of stack 'staging' (emg-analyzer:environment is None): "
            "set it with `pulumi config set emg-analyzer:environment dev|prod`",
        ),
        (
            {"PULUMI_STACK": "dev", "PULUMI_PROJECT": "p", "PULUMI_CONFIG": "[1]"},
            "PULUMI_CONFIG is not a JSON object of stack settings",
        ),
    ],
)
def test_a_stack_of_unknown_environment_stops_the_pack(environ: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        stack_context(environ)
    assert str(caught.value).startswith(message)


# --- what the pack reports ------------------------------------------------------------------------


@pytest.mark.parametrize("key", STACKS, ids=case_id)
def test_the_pack_reports_what_the_engine_reports(
    cases: dict[tuple[str, str], Case], key: tuple[str, str]
) -> None:
    case = cases[key]
    pack = run_pack(case.environ, case.resources, case.components, case.config)
    assert pack == engine_findings(case, retain_visible=False), key
    offline = engine_findings(case)
    only_retain_differs(pack, offline)
    unknown = {(r, urn is not None) for r, urn, m in pack if m.startswith("cannot judge")}
    assert CANNOT_JUDGE[case.plan.cloud] <= unknown, f"{key}: cannot judge {sorted(unknown)}"
    rule_id, _ = SUPPRESSED[case.plan.cloud]
    assert any(r == rule_id for r, _, _ in pack) == (key[0] == "dev"), f"{key}: {rule_id}"


@pytest.mark.parametrize("key", STACKS, ids=case_id)
def test_on_the_clean_plans_the_pack_agrees_with_check_plan(
    cases: dict[tuple[str, str], Case], key: tuple[str, str]
) -> None:
    case = cases[key]
    report = check_plan(case.plan, case.context)
    offline = {
        (f.rule_id, f.urn, f"{f.message}\nfix: {f.remediation}")
        for f in report.findings
        if f.rule_id != "X3" and f.suppressed_because is None
    }
    pack = run_pack(case.environ, policy_resources(case.plan), [], {})
    only_retain_differs(pack, offline)


def test_an_unknown_value_is_a_cannot_judge_violation_never_a_pass() -> None:
    props = {"a": [UNKNOWN_STRING, {"b": "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"}], "c": "x"}
    assert engine_value(props) == {"a": [UNKNOWN_VALUE, {"b": UNKNOWN_VALUE}], "c": "x"}
    assert len(UNKNOWN_SENTINELS) == 7
    environ = {"PULUMI_STACK": "prod", "PULUMI_PROJECT": "emg-analyzer"}
    redis = Resource("urn:pulumi:prod::emg-analyzer::" + REDIS + "::r", REDIS, "r", {})
    (g12,) = [s for s in policy_specs(environ) if s.name == "G12"]
    reported = []
    for sentinel in sorted(UNKNOWN_SENTINELS):
        view = shown(redis, True, {})
        view.props = {"authEnabled": sentinel}
        g12.validate(view, lambda message, urn=None: reported.append((message, urn)))
    assert reported == [
        (
            "cannot judge: authEnabled is unknown before apply\n"
            "fix: Set auth_enabled=True and pass the AUTH string to the service as a secret.",
            redis.urn,
        )
    ] * len(UNKNOWN_SENTINELS)
    assert g12.enforcement_level == "MANDATORY"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"suppressions": [{"urn": "*", "reason": ""}]}, "suppression of G1 on * needs a reason"),
        ({"suppressions": [{"urn": "*", "reason": "  "}]}, "suppression of G1 on * needs a reason"),
        ({"suppressions": [{"urn": "*"}]}, "suppression of G1 on * needs a reason"),
        ({"suppressions": [{"reason": "why"}]}, "G1.suppressions[0] needs a urn"),
        ({"suppressions": ["*"]}, "G1.suppressions[0] needs a urn"),
        ({"suppressions": {"urn": "*"}}, "G1.suppressions must be a list of {urn, reason}"),
    ],
)
def test_a_suppression_needs_a_urn_and_a_reason(config: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        suppressions("G1", config)
    assert str(caught.value).startswith(message)
    (g1,) = [s for s in policy_specs({"PULUMI_STACK": "dev"}) if s.name == "G1"]
    service = Resource("urn:pulumi:dev::emg-analyzer::" + SERVICE + "::api", SERVICE, "api", {})
    with pytest.raises(ValueError, match="G1"):  # the run stops; nothing passes silently
        g1.validate(shown(service, True, config), lambda *_: None)


def test_a_suppression_with_a_reason_silences_only_what_it_names() -> None:
    config = {"suppressions": [{"urn": "*::api", "reason": "behind an internal proxy"}]}
    assert suppressions("G1", config) == (Suppression("G1", "*::api", "behind an internal proxy"),)
    (g1,) = [s for s in policy_specs({"PULUMI_STACK": "dev"}) if s.name == "G1"]
    reported = []
    for name in ("api", "worker"):
        service = Resource(f"urn:pulumi:dev::emg-analyzer::{SERVICE}::{name}", SERVICE, name, {})
        g1.validate(shown(service, True, config), lambda m, urn=None: reported.append(urn))
    assert reported == [f"urn:pulumi:dev::emg-analyzer::{SERVICE}::worker"]


def test_only_main_imports_pulumi_policy_and_the_adapter_imports_no_pulumi() -> None:
    importers = set()
    for path in (REPO / "infra").rglob("*.py"):
        if "venv" in path.relative_to(REPO).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "pulumi_policy" for n in names):
                importers.add(path.relative_to(REPO).as_posix())
    assert importers == {"infra/policy/__main__.py"}
    # The pack's virtualenv has neither our distribution's dependencies nor pydantic.
    code = (
        "import sys, infra.policy.pack; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pulumi', 'pulumi_gcp', 'pulumi_aws', 'pydantic', 'yaml', 'stacks'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# --- the real pack ---------------------------------------------------------------------------


def test_the_real_pack_started_as_the_cli_starts_it_reports_the_same(
    cases: dict[tuple[str, str], Case],
) -> None:
    if not PACK_PYTHON.exists():
        message = f"{PACK_PYTHON} missing: `make policy-venv` creates it (`make test` does too)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    no_reason = {"G1": {"suppressions": [{"urn": "*", "reason": " "}]}}
    stacks = [
        {
            "env": case.environ,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "props": wire(dict(r.props)),
                    "protect": r.protect,
                    "custom": custom,
                }
                for rs, custom in ((case.resources, True), (case.components, False))
                for r in rs
            ],
            "runs": [{"policy_config": case.config}]
            + ([{"policy_config": no_reason}] if key == ("dev", "gcp") else []),
        }
        for key, case in cases.items()
    ]
    result = subprocess.run(
        [str(PACK_PYTHON), str(CLIENT)],
        input=json.dumps(stacks),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for (key, case), answer in zip(cases.items(), json.loads(result.stdout), strict=True):
        rules = rules_for(case.plan.cloud)
        assert answer["pack"] == PACK_NAME
        assert answer["policies"] == [
            {
                "name": r.id,
                "type": "POLICY_TYPE_RESOURCE"
                if isinstance(r, ResourceRule)
                else "POLICY_TYPE_STACK",
                "level": r.level.upper(),
                "severity": f"POLICY_SEVERITY_{r.severity.upper()}",
                "config": ["suppressions"],
            }
            for r in rules
        ], key
        diagnostics = answer["runs"][0]["diagnostics"]
        reported = {(d["policy"], d["urn"], d["message"]) for d in diagnostics}
        assert reported == engine_findings(case, retain_visible=False, title=True), key
        level = {r.id: r.level.upper() for r in rules}
        assert all(d["level"] == level[d["policy"]] for d in diagnostics), key
        if key == ("dev", "gcp"):
            assert "suppression of G1 on * needs a reason" in answer["runs"][1]["error"]
