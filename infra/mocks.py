"""Run the real Pulumi program without a cloud: Pulumi's Python mocks, plus a record of every
resource it registers (type, name, parent, inputs, protect). Tests and the offline plan both
use this, so what the plan shows is what the tests checked.

Mocked providers compute nothing, so `PlanMocks` returns realistic outputs (URLs, e-mails,
digests) for the resources whose outputs the program uses; anything else echoes its inputs.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc


@dataclass
class RegisteredResource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    custom: bool
    protect: bool
    retain_on_delete: bool
    provider: str | None = None  # "<provider urn>::<id>" of an explicit provider, if any


@dataclass
class ProgramRun:
    """What one run of a program registered, in registration order, and its stack outputs."""

    resources: list[RegisteredResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_token: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> RegisteredResource:
        found = self.of_type(type_token)
        assert len(found) == 1, f"expected one {type_token}, found {[r.urn for r in found]}"
        return found[0]

    def named(self, name: str) -> RegisteredResource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_COMPUTE_API = "https://www.googleapis.com/compute/v1"
AWS_ACCOUNT = "123456789012"
AWS_REGION = "eu-west-1"
# The few AWS services whose ARNs have no region part.
_GLOBAL_SERVICES = frozenset({"iam", "route53", "cloudfront"})


def aws_arn(type_token: str, name: str, region: str = AWS_REGION) -> str:
    """A plausible ARN for a resource of ``type_token`` named ``name``: it ends in
    ``/<name>`` (``:<name>`` for secrets), so rules can tie references to resources by name."""
    module, _, kind = type_token.removeprefix("aws:").partition(":")
    service = module.split("/")[0]
    service = {
        "lb": "elasticloadbalancing",
        "cloudwatch": "logs" if kind == "LogGroup" else "cloudwatch",
    }.get(service, service)
    region = "" if service in _GLOBAL_SERVICES else region
    if service == "secretsmanager":
        return f"arn:aws:secretsmanager:{region}:{AWS_ACCOUNT}:secret:{name}"
    return f"arn:aws:{service}:{region}:{AWS_ACCOUNT}:{kind[0].lower() + kind[1:]}/{name}"


def _aws_computed(args: pulumi_mocks.MockResourceArgs) -> dict[str, Any]:
    """What AWS computes for the resources whose outputs the AWS platform reads; every AWS
    resource also gets an ARN."""
    name, inputs = args.name, args.inputs
    arn = aws_arn(args.typ, name)
    outputs: dict[str, Any] = {"arn": arn}
    match args.typ:
        case "aws:ecr/repository:Repository":
            repo = inputs.get("name", name)
            host = f"{AWS_ACCOUNT}.dkr.ecr.{AWS_REGION}.amazonaws.com"
            outputs |= {"repositoryUrl": f"{host}/{repo}", "registryId": AWS_ACCOUNT}
        case "aws:kms/key:Key":
            outputs |= {"keyId": _digest(name)[:32]}
        case "aws:ec2/vpc:Vpc" | "aws:ec2/subnet:Subnet" | "aws:ec2/securityGroup:SecurityGroup":
            prefix = {"Vpc": "vpc", "Subnet": "subnet", "SecurityGroup": "sg"}[
                args.typ.rsplit(":", 1)[-1]
            ]
            outputs |= {"id": f"{prefix}-{_digest(name)[:17]}"}
        case "aws:lb/loadBalancer:LoadBalancer":
            suffix = f"app/{inputs.get('name', name)}/{_digest(name)[:16]}"
            outputs |= {
                "arnSuffix": suffix,
                "dnsName": f"{inputs.get('name', name)}-1234567890.{AWS_REGION}.elb.amazonaws.com",
                "zoneId": "Z32O12XQLNTSW2",
            }
        case "aws:lb/targetGroup:TargetGroup":
            outputs |= {"arnSuffix": f"targetgroup/{inputs.get('name', name)}/{_digest(name)[:16]}"}
        case "aws:acm/certificate:Certificate":
            domain = inputs.get("domainName", "example.org")
            outputs |= {
                "domainValidationOptions": [
                    {
                        "domainName": domain,
                        "resourceRecordName": f"_{_digest(domain)[:32]}.{domain}.",
                        "resourceRecordType": "CNAME",
                        "resourceRecordValue": f"_{_digest(name)[:32]}.acm-validations.aws.",
                    }
                ]
            }
        case "aws:acm/certificateValidation:CertificateValidation":
            outputs |= {"certificateArn": inputs.get("certificateArn", arn)}
        case "aws:elasticache/replicationGroup:ReplicationGroup":
            group = inputs.get("replicationGroupId", name)
            outputs |= {
                "primaryEndpointAddress": f"master.{group}.abcdef.euw1.cache.amazonaws.com",
                "port": 6379,
            }
        case "aws:ecs/cluster:Cluster" | "aws:ecs/service:Service":
            outputs |= {"name": inputs.get("name", name)}
        case "aws:route53/record:Record":
            outputs |= {"fqdn": str(inputs.get("name", name)).rstrip(".")}
        case "aws:cloudwatch/dashboard:Dashboard":
            outputs |= {"dashboardArn": arn}
        case "aws:secretsmanager/secretVersion:SecretVersion":
            outputs |= {"versionId": _digest(name)[:32]}
    return outputs


def _computed(args: pulumi_mocks.MockResourceArgs, project: str) -> dict[str, Any]:
    """Outputs a real provider would compute, for the types whose outputs the program reads."""
    if args.typ.startswith("aws:"):
        return _aws_computed(args)
    name, inputs = args.name, args.inputs
    region = inputs.get("location") or inputs.get("region") or "europe-west4"
    gcp_project = inputs.get("project") or project
    match args.typ:
        case "gcp:artifactregistry/repository:Repository":
            repo = inputs.get("repositoryId", name)
            return {"registryUri": f"{region}-docker.pkg.dev/{gcp_project}/{repo}", "name": repo}
        case "gcp:serviceaccount/account:Account":
            return {
                "email": f"{inputs.get('accountId', name)}@{gcp_project}.iam.gserviceaccount.com"
            }
        case "gcp:cloudrunv2/service:Service":
            return {"uri": f"https://{name}-{_digest(name)[:10]}-ew.a.run.app", "name": name}
        case "gcp:compute/globalAddress:GlobalAddress":
            return {"address": "203.0.113.10"}
        case "gcp:redis/instance:Instance":
            return {
                "id": f"projects/{gcp_project}/locations/{region}/instances/{name}",
                "host": "10.20.0.3",
                "port": 6378,
                "authString": "mock-redis-auth-string",
                "serverCaCerts": [
                    {"cert": "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----"}
                ],
            }
        case "gcp:secretmanager/secret:Secret":
            path = f"projects/{gcp_project}/secrets/{inputs.get('secretId', name)}"
            return {"id": path, "name": path}
        case "gcp:secretmanager/secretVersion:SecretVersion":
            return {"name": f"{inputs.get('secret', name)}/versions/1", "version": "1"}
        case "docker:index/image:Image":
            image = inputs.get("imageName", name)
            return {"repoDigest": f"{image.split(':')[0]}@sha256:{_digest(image)}"}
        case "gcp:monitoring/dashboard:Dashboard":
            return {"id": f"projects/{gcp_project}/dashboards/{_digest(name)[:12]}"}
        case "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            return {"uptimeCheckId": f"{name}-{_digest(name)[:8]}"}
        case "gcp:monitoring/notificationChannel:NotificationChannel":
            return {"name": f"projects/{gcp_project}/notificationChannels/{_digest(name)[:12]}"}
        case "gcp:compute/network:Network":
            path = f"projects/{gcp_project}/global/networks/{inputs.get('name', name)}"
            return {"id": path, "selfLink": f"{_COMPUTE_API}/{path}"}
        case "gcp:compute/subnetwork:Subnetwork":
            path = f"projects/{gcp_project}/regions/{region}/subnetworks/{inputs.get('name', name)}"
            return {"id": path, "selfLink": f"{_COMPUTE_API}/{path}"}
        case "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup":
            path = f"projects/{gcp_project}/regions/{region}/networkEndpointGroups/{name}"
            return {"id": path, "selfLink": f"{_COMPUTE_API}/{path}"}
        case (
            "gcp:compute/securityPolicy:SecurityPolicy"
            | "gcp:compute/backendService:BackendService"
            | "gcp:compute/uRLMap:URLMap"
            | "gcp:compute/managedSslCertificate:ManagedSslCertificate"
            | "gcp:compute/sSLPolicy:SSLPolicy"
            | "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
            | "gcp:compute/targetHttpProxy:TargetHttpProxy"
            | "gcp:compute/globalForwardingRule:GlobalForwardingRule"
        ):
            collection = {
                "SecurityPolicy": "securityPolicies",
                "BackendService": "backendServices",
                "URLMap": "urlMaps",
                "ManagedSslCertificate": "sslCertificates",
                "SSLPolicy": "sslPolicies",
                "TargetHttpsProxy": "targetHttpsProxies",
                "TargetHttpProxy": "targetHttpProxies",
                "GlobalForwardingRule": "forwardingRules",
            }[args.typ.rsplit(":", 1)[-1]]
            path = f"projects/{gcp_project}/global/{collection}/{name}"
            return {"id": path, "selfLink": f"{_COMPUTE_API}/{path}"}
    return {}


class PlanMocks(pulumi.runtime.Mocks):
    """Echo inputs, add computed outputs, answer the few data-source calls the program makes."""

    def __init__(self, project: str) -> None:
        self.project = project

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = {**args.inputs, **_computed(args, self.project)}
        outputs.setdefault("name", args.name)
        outputs.setdefault("id", f"{args.name}-id")
        return outputs["id"] if isinstance(outputs["id"], str) else f"{args.name}-id", outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list]:
        # The second item lists check failures; the mock monitor iterates it, so never None.
        if args.token == "gcp:organizations/getProject:getProject":
            project = args.args.get("projectId") or self.project
            return {"projectId": project, "number": "123456789012", "name": project}, []
        match args.token:
            case "aws:index/getAvailabilityZones:getAvailabilityZones":
                zones = [f"{AWS_REGION}{letter}" for letter in "abc"]
                return {"names": zones, "zoneIds": ["euw1-az1", "euw1-az2", "euw1-az3"]}, []
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return {"accountId": AWS_ACCOUNT, "arn": f"arn:aws:iam::{AWS_ACCOUNT}:root"}, []
            case "aws:index/getRegion:getRegion":
                return {"name": AWS_REGION, "region": AWS_REGION}, []
            case "aws:index/getPartition:getPartition":
                return {"partition": "aws", "dnsSuffix": "amazonaws.com"}, []
            case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
                host = f"https://{AWS_ACCOUNT}.dkr.ecr.{AWS_REGION}.amazonaws.com"
                return {
                    "userName": "AWS",
                    "password": "mock-ecr-password",
                    "proxyEndpoint": host,
                    "authorizationToken": "QVdTOm1vY2s=",
                }, []
            case "aws:elb/getServiceAccount:getServiceAccount":
                account = "arn:aws:iam::156460612806:root"  # eu-west-1's ELB account
                return {"arn": account, "id": "156460612806"}, []
        return {}, []


@contextmanager
def _call_loop() -> Iterator[None]:
    """An event loop for one monitor call on an executor thread, closed after it.

    Pulumi's mock monitor runs on the program loop's executor threads and gives each thread a
    loop of its own that nobody closes; at interpreter exit those are collected half torn down
    ("unclosed event loop", now and then "Invalid file descriptor: -1")."""
    try:
        asyncio.get_event_loop()  # this thread has a loop (the program's): not ours to close
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            yield
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    else:
        yield


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping the registration options tests and plans look at."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.run = ProgramRun()

    def Invoke(self, request):
        with _call_loop():
            return super().Invoke(request)

    def ReadResource(self, request):
        with _call_loop():
            return super().ReadResource(request)

    def RegisterResource(self, request):
        with _call_loop():
            response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            registration = self.resources[response.urn]
            self.run.resources.append(
                RegisteredResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent or None,
                    inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                    outputs=dict(registration.state),
                    custom=request.custom,
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    provider=request.provider or None,
                )
            )
        return response


def _resolve_exports(run: ProgramRun) -> None:
    """Stack outputs as values (the mocked root stack registered its outputs before the program
    ran, so they are read from it directly), noting which are secret."""
    root = pulumi.runtime.settings.get_root_resource()
    for name, value in getattr(root, "outputs", {}).items():
        output = pulumi.Output.from_input(value)
        run.outputs[name] = pulumi_mocks._sync_await(output.future())
        if pulumi_mocks._sync_await(output.is_secret()):
            run.secret_outputs.add(name)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a program left pending (a failed run, or a registration nobody awaited), then
    close its loop, so nothing is reported as destroyed-while-pending or never awaited."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:  # gather() of nothing would ask for the thread's current loop
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()


def run_program(
    program: Callable[[], None],
    *,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    project: str = "emg-analyzer",
) -> ProgramRun:
    """Run ``program`` under mocks with ``config`` (``namespace:key`` → text) and return what it
    registered. Runs on a fresh thread so each run has its own root stack and event loop."""
    result: dict[str, Any] = {}

    def target() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            mocks = PlanMocks(project)
            monitor = RecordingMonitor(mocks)
            pulumi.runtime.set_all_config(dict(config), secret_keys or [])
            pulumi.runtime.set_mocks(
                mocks, project=project, stack=stack, preview=False, monitor=monitor
            )
            settings = pulumi.runtime.settings.SETTINGS
            settings.rpc_manager.clear()
            settings.outputs.clear()
            pulumi_mocks._sync_await(pulumi.runtime.stack.run_pulumi_func(program))
            _resolve_exports(monitor.run)
            result["run"] = monitor.run
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc
        finally:
            close_loop(loop)

    thread = threading.Thread(target=target, name=f"pulumi-mocks-{stack}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["run"]
