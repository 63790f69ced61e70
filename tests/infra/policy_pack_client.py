"""Runs the policy pack as the Pulumi CLI does and plays the engine's part over gRPC.

Run with the pack's own interpreter (``infra/policy/venv/bin/python``), which has pulumi_policy;
tests/infra/test_policy_pack.py drives it. Standard input is a JSON list, one entry per stack::

    [{"env": {"PULUMI_STACK": ..., ...},         # what the CLI passes the pack process
      "resources": [{"urn", "type", "name", "props", "protect", "custom"}, ...],
      "runs": [{"policy_config": {policy: {...}}}, ...]}, ...]

``props`` are in wire form (secrets as signature objects, unknowns as the engine's sentinels).
Each stack's pack starts as the CLI's ``pulumi-analyzer-policy-python`` shim starts it
(``python -u -m pulumi.policy <engine> .`` in infra/policy) and prints its port; then, per run:
Configure (each policy's level plus the run's config, as the CLI reconciles them), Analyze for
every resource, AnalyzeStack once. Standard output is a JSON list, per stack: the pack's name,
the policies GetAnalyzerInfo lists and, per run, the diagnostics or the error the pack raised.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as rpc
from pulumi.runtime.proto import analyzer_pb2_grpc

PACK_DIR = Path(__file__).resolve().parents[2] / "infra" / "policy"
TIMEOUT_S = 30
PROVIDER = rpc.AnalyzerProviderResource(
    urn="urn:pulumi:stack::emg-analyzer::pulumi:providers:gcp::default",
    type="pulumi:providers:gcp",
    name="default",
)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."],
        cwd=PACK_DIR,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def port(proc: subprocess.Popen[bytes]) -> int:
    """The port the pack prints once it serves."""
    assert proc.stdout is not None and proc.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(TIMEOUT_S):
            raise SystemExit(f"the pack printed no port within {TIMEOUT_S}s")
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        raise SystemExit(f"the pack did not start: {line!r} {proc.stderr.read().decode()}")
    return int(line)


def analyze(stub: Any, policies: list[Any], resources: list[dict], config: dict) -> dict:
    stub.Configure(
        rpc.ConfigureAnalyzerRequest(
            policyConfig={
                p.name: rpc.PolicyConfig(
                    enforcementLevel=p.enforcementLevel, properties=struct(config.get(p.name, {}))
                )
                for p in policies
            }
        )
    )
    requests = [
        {
            "urn": r["urn"],
            "type": r["type"],
            "name": r["name"],
            "properties": struct(r["props"]),
            "options": rpc.AnalyzerResourceOptions(protect=r["protect"]),
            **({"provider": PROVIDER} if r["custom"] else {}),
        }
        for r in resources
    ]
    try:
        diagnostics = [
            d for r in requests for d in stub.Analyze(rpc.AnalyzeRequest(**r)).diagnostics
        ]
        diagnostics += stub.AnalyzeStack(
            rpc.AnalyzeStackRequest(resources=[rpc.AnalyzerResource(**r) for r in requests])
        ).diagnostics
    except grpc.RpcError as exc:
        return {"error": exc.details()}
    return {
        "diagnostics": [
            {
                "policy": d.policyName,
                "urn": d.urn or None,
                "message": d.message,
                "level": rpc.EnforcementLevel.Name(d.enforcementLevel),
            }
            for d in diagnostics
        ]
    }


def session(proc: subprocess.Popen[bytes], stack: dict) -> dict:
    with grpc.insecure_channel(f"127.0.0.1:{port(proc)}") as channel:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT_S)
        stub = analyzer_pb2_grpc.AnalyzerStub(channel)
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
        policies = list(info.policies)
        return {
            "pack": info.name,
            "policies": [
                {
                    "name": p.name,
                    "type": rpc.PolicyType.Name(p.policy_type),
                    "level": rpc.EnforcementLevel.Name(p.enforcementLevel),
                    "severity": rpc.PolicySeverity.Name(p.severity),
                    "config": sorted(p.configSchema.properties.keys()),
                }
                for p in policies
            ],
            "runs": [
                analyze(stub, policies, stack["resources"], run["policy_config"])
                for run in stack["runs"]
            ],
        }


def main() -> None:
    stacks = json.load(sys.stdin)
    procs = [start(stack["env"]) for stack in stacks]  # they start side by side
    try:
        results = [session(proc, stack) for proc, stack in zip(procs, stacks, strict=True)]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(TIMEOUT_S)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
