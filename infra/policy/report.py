"""Findings as people and tools read them: text for the terminal, JSON, and SARIF 2.1.0 (what
code-scanning UIs show on pull requests)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from infra.policy.engine import Finding, Report, Rule

_SARIF_LEVEL = {"mandatory": "error", "advisory": "warning"}


def _where(finding: Finding) -> str:
    return finding.urn.split("::")[-1] if finding.urn else "stack"


def render_text(report: Report) -> str:
    lines = []
    for f in report.findings:
        status = "suppressed" if f.suppressed_because else ("UNKNOWN" if f.unknown else f.level)
        lines.append(f"[{status}] {f.rule_id} {f.title}: {_where(f)}")
        lines.append(f"    why: {f.message}")
        lines.append(f"    fix: {f.remediation}")
        if f.suppressed_because:
            lines.append(f"    suppressed: {f.suppressed_because}")
    blocking = len(report.blocking)
    lines.append(
        f"policy: {len(report.findings)} findings, {blocking} blocking"
        + (" (mandatory rules violated or not judgeable)" if blocking else "")
    )
    return "\n".join(lines) + "\n"


def findings_json(report: Report) -> str:
    data = [asdict(f) | {"blocking": f.blocking} for f in report.findings]
    return json.dumps({"findings": data, "blocking": len(report.blocking)}, indent=2) + "\n"


def sarif(report: Report, rules: Sequence[Rule], artifact: str) -> str:
    """SARIF 2.1.0; each result points at the stack file (``artifact``) and the resource URN."""
    results = []
    for f in report.findings:
        result = {
            "ruleId": f.rule_id,
            "level": "note" if f.suppressed_because else _SARIF_LEVEL[f.level],
            "message": {"text": f"{f.message}. Fix: {f.remediation}"},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": artifact}},
                    "logicalLocations": [{"fullyQualifiedName": f.urn or "stack"}],
                }
            ],
        }
        if f.suppressed_because:
            result["suppressions"] = [{"kind": "external", "justification": f.suppressed_because}]
        results.append(result)
    driver = {
        "name": "emg-analyzer-policy",
        "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
        "rules": [
            {
                "id": r.id,
                "shortDescription": {"text": r.title},
                "help": {"text": r.remediation},
                "defaultConfiguration": {"level": _SARIF_LEVEL[r.level]},
                "properties": {"severity": r.severity, "scope": r.scope},
            }
            for r in rules
        ],
    }
    document = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
    return json.dumps(document, indent=2) + "\n"
