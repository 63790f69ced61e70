"""The policy pack `pulumi preview --policy-pack infra/policy` runs: one pulumi_policy policy per
rule of the stack's cloud, from the specs of `infra.policy.pack` (all the logic, tested there).

The Pulumi CLI runs this file with ``venv/bin/python -m pulumi.policy`` from this directory
(PulumiPolicy.yaml); constructing `PolicyPack` serves the rules over gRPC until the CLI stops it.
"""

import sys
from pathlib import Path

# The pack's virtualenv (venv/ here) holds pulumi-policy only, not our distribution: put the
# checkout's root on the path so `infra.policy` imports from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

from infra.policy.pack import PACK_NAME, policy_specs

KINDS = {"resource": ResourceValidationPolicy, "stack": StackValidationPolicy}


def policies() -> list[Policy]:
    return [
        KINDS[spec.kind](
            name=spec.name,
            description=spec.description,
            validate=spec.validate,
            enforcement_level=EnforcementLevel[spec.enforcement_level],
            severity=Severity[spec.severity],
            remediation_steps=spec.remediation,
            config_schema=PolicyConfigSchema(dict(spec.config_schema)),
        )
        for spec in policy_specs()
    ]


if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, policies=policies())
