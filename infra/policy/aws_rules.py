"""The AWS rows of the security rule table (INFRA_NOTES.md: A1-A19, X1-X2) as engine rules.

Like the GCP rules, every rule reads wire-form properties (camelCase) through `Resource.get`: a
value unknown before apply raises `Unknown` and the engine reports "cannot judge". Messages name
the property and the offending value, never a secret's value. X3 (stack outputs) is shared:
`infra.policy.common.check_outputs`.

Decisions where the table leaves room:
- Presence versus value: where a rule only needs to know that a property is set (an AUTH token,
  a KMS key, a secret string), a value unknown until apply (a generated password, the ARN of a
  key created in the same update) counts as set; rules that compare a value cannot judge it.
- Cross-resource references (a task's ``executionRoleArn``, a policy's ``role``, an
  association's ``resourceArn``/``webAclArn``, an alarm's dimensions) resolve by the last
  segment of the ARN or id (after the last ``/``, then ``:``) against a resource's logical
  name, its ``name`` or ``replicationGroupId`` input, or its offline-plan id
  ``<logical name>-id``. In a real preview such references are unknown: the rule cannot judge.
- A2 is a stack rule: registry-level ENHANCED scanning whose filters match the repository's
  name stands in for ``scanOnPush``.
- A3 (prod) wants a customer-managed key: ``encryptionType`` KMS *and* ``kmsKey`` set.
- A4: an HTTP listener (``protocol`` unset means HTTP, the ALB default) may only have redirect
  actions to HTTPS, port 443, HTTP_301. A5 allow-list: the TLS 1.3 policies of Security Hub
  control ELB.17 (TLS13-1-2, -Res, -1-3 and their FIPS twins) and the forward-secrecy
  ``ELBSecurityPolicy-FS-1-2-Res-2020-10``; an unset ``sslPolicy`` is the weak 2016-08 default.
- A6: header dropping and access logs everywhere, deletion protection in prod (scope all).
- A7 and A18 (prod) judge the ALB-fronted platform and are silent in a stack without a load
  balancer (a GCP stack). A7: every internet-facing ALB is associated with a web ACL that has a
  rate-based rule whose action is block and the AWS managed common rule set not in count mode.
  A18: each load balancer, ECS service and replication group has an alarm on each of its
  metrics (namespace and name, directly or in ``metricQueries``) whose dimensions name it; an
  alarm on such a metric without ``alarmActions`` or watching nothing of this stack is reported.
- A8: one mandatory/critical rule for the whole container definition (plain secret-looking
  environment, ``secrets`` from Secrets Manager/SSM ARNs, read-only root, awslogs, not
  privileged). A9 (stack rule): the execution role differs from the task role, has only the
  AmazonECSTaskExecutionRolePolicy attachment (also ``managedPolicyArns``), and its inline
  policies (RolePolicy or ``inlinePolicies``) only allow ``secretsmanager:GetSecretValue`` on
  named secret ARNs and ``kms:Decrypt`` on key ARNs; no wildcard, no NotAction/NotResource.
- A10: no public IP and a rolling-back circuit breaker everywhere, no ECS Exec in prod.
- A12: ``transitEncryptionMode`` unset is accepted (AWS makes it "required" when transit
  encryption is enabled at creation); "preferred" is refused. AUTH is ``authToken``,
  ``authTokenWo`` or ``userGroupIds``.
- A13 runs everywhere for the lowercase ``engine``; failover, Multi-AZ, >= 2 nodes (or a replica
  per node group) and snapshots are prod only.
- A14: an ingress rule (SecurityGroupIngressRule or a SecurityGroup's inline ``ingress``)
  reaching the Redis port 6379 or the task port 8080 must name a security group, never a CIDR
  or prefix list; and any ingress open to the internet (0.0.0.0/0, ::/0) is allowed only on tcp
  80 or 443 (the ALB's listeners), nothing else.
- A17: ``retentionInDays`` set and not 0 everywhere (no fixed number); ``kmsKeyId`` in prod.
- A19: DNS validation only; certificate expiry is a runtime check (AWS Config
  acm-certificate-expiration-check), out of reach of a plan.
- X1: tags on the types listed in `TAGGED`. X2: in dev, besides ``protect``/``retainOnDelete``,
  ALB ``enableDeletionProtection``, and an ECR repository without ``forceDelete`` or an S3
  bucket without ``forceDestroy`` (they cannot be deleted once they hold images/objects); in
  prod the replication group, secrets and repository need ``protect`` or ``retainOnDelete``
  (a policy pack sees only ``protect``; the platform sets both).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from infra.policy.common import (
    SECRET_LOOKING_NAME,
    StackViolations,
    expect,
    is_wire_secret,
    items,
    missing_labels,
    names,
    not_in_stack,
    of_type,
    options_blocking_destroy,
    referenced,
    resource_rule,
    show,
    stack_rule,
    x2_violations,
)
from infra.policy.engine import Context, Resource, Rule, Unknown

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_SUBNET_GROUP = "aws:elasticache/subnetGroup:SubnetGroup"
CERTIFICATE = "aws:acm/certificate:Certificate"
CLUSTER = "aws:ecs/cluster:Cluster"
ECS_SERVICE = "aws:ecs/service:Service"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
EIP = "aws:ec2/eip:Eip"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
KMS_KEY = "aws:kms/key:Key"
LISTENER = "aws:lb/listener:Listener"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
REGISTRY_SCANNING = "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration"
REPOSITORY = "aws:ecr/repository:Repository"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SNS_TOPIC = "aws:sns/topic:Topic"
SUBNET = "aws:ec2/subnet:Subnet"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
VPC = "aws:ec2/vpc:Vpc"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"

TLS_POLICIES = frozenset(
    {
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
        "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
        "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    }
)
SECRET_SOURCE = re.compile(r"arn:aws[\w-]*:(secretsmanager|ssm):")
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
# A9: what an execution role may be allowed, and the ARNs (no wildcard) it may be allowed on.
EXECUTION_GRANTS = {
    "secretsmanager:getsecretvalue": (
        "secret",
        re.compile(r"arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:[^*?]+"),
    ),
    "kms:decrypt": ("KMS key", re.compile(r"arn:aws[\w-]*:kms:[\w-]+:\d{12}:key/[^*?]+")),
}
CONTAINER_INSIGHTS = ("enabled", "enhanced")
REDIS_PORT = 6379
TASK_PORT = 8080  # the service image's port (service/Dockerfile)
INTERNET = frozenset({"0.0.0.0/0", "::/0"})
PUBLIC_PORTS = frozenset({80, 443})
TCP = frozenset({"tcp", "6"})
ALL_PROTOCOLS = frozenset({"-1", "all"})
# A18: what is watched, the metrics' namespace and names, the dimensions that name it.
WATCHED = (
    (
        LOAD_BALANCER,
        "load balancer",
        "AWS/ApplicationELB",
        ("HTTPCode_Target_5XX_Count", "TargetResponseTime", "UnHealthyHostCount"),
        ("LoadBalancer",),
    ),
    (
        ECS_SERVICE,
        "ECS service",
        "AWS/ECS",
        ("CPUUtilization", "MemoryUtilization"),
        ("ServiceName",),
    ),
    (
        CACHE,
        "replication group",
        "AWS/ElastiCache",
        ("DatabaseMemoryUsagePercentage", "EngineCPUUtilization"),
        ("ReplicationGroupId", "CacheClusterId"),
    ),
)
# X1: every type the AWS program creates that takes tags.
TAGGED = (
    ALARM, *BUCKETS, CACHE, CACHE_SUBNET_GROUP, CERTIFICATE, CLUSTER, ECS_SERVICE, EGRESS_RULE, EIP,
    INGRESS_RULE, INTERNET_GATEWAY, KMS_KEY, LISTENER, LOAD_BALANCER, LOG_GROUP, NAT_GATEWAY,
    REPOSITORY, ROLE, ROUTE_TABLE, SCALING_TARGET, SECRET, SECURITY_GROUP, SNS_TOPIC, SUBNET,
    TARGET_GROUP, TASK_DEFINITION, VPC, VPC_ENDPOINT, WEB_ACL,
)  # fmt: skip
KEPT_IN_PROD = (CACHE, SECRET, REPOSITORY)


# --- helpers -------------------------------------------------------------------------------------


def aws_names(resource: Resource) -> set[str]:
    """`names` plus the replication group id and the offline plan's id ``<logical name>-id``."""
    found = names(resource) | {f"{resource.name}-id"}
    group = resource.props.get("replicationGroupId")
    if isinstance(group, str):
        found.add(group)
    return found


def find(resources: Sequence[Resource], type_token: str, ref: Any) -> Resource | None:
    """The ``type_token`` resource of this stack that the ARN, id or name ``ref`` points at."""
    return referenced(resources, type_token, ref, aws_names)


def is_set(resource: Resource, path: str) -> bool:
    """Whether the program sets ``path``; a value known only after apply counts as set."""
    try:
        value = resource.get(path)
    except Unknown:
        return True
    return value not in (None, "", [], {})


def parsed(resource: Resource, path: str) -> Any:
    """The JSON document at ``path`` (a string on the wire); None if unset; ValueError if bad."""
    value = resource.get(path)
    return json.loads(value) if isinstance(value, str) else value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- A1-A3: ECR ----------------------------------------------------------------------------------


@resource_rule(
    "A1",
    "ECR tags immutable",
    (REPOSITORY,),
    "mandatory",
    "high",
    "all",
    'Set image_tag_mutability="IMMUTABLE" (the default is MUTABLE) so a tag cannot be repointed.',
)
def a1(repository: Resource, context: Context) -> list[str]:
    return expect(repository, "imageTagMutability", ("IMMUTABLE",))


def enhanced_scanning(resources: Sequence[Resource], repository: Resource) -> bool:
    """Whether a registry-level ENHANCED scanning rule's filter matches the repository's name."""
    for config in of_type(resources, REGISTRY_SCANNING):
        if config.get("scanType") != "ENHANCED":
            continue
        for rule in items(config, "rules"):
            for flt in items(config, f"{rule}.repositoryFilters"):
                pattern = str(config.get(f"{flt}.filter"))
                if any(fnmatch.fnmatchcase(name, pattern) for name in names(repository)):
                    return True
    return False


@stack_rule(
    "A2",
    "ECR images scanned on push",
    "mandatory",
    "high",
    "all",
    "Set image_scanning_configuration.scan_on_push=True (or enable registry-level ENHANCED "
    "scanning with a filter matching the repository).",
)
def a2(resources: Sequence[Resource], context: Context) -> StackViolations:
    for repository in of_type(resources, REPOSITORY):
        problems = expect(repository, "imageScanningConfiguration.scanOnPush", (True,))
        if problems and not enhanced_scanning(resources, repository):
            for message in problems:
                yield repository.urn, message


@resource_rule(
    "A3",
    "ECR encrypted with a customer-managed key; not force-deleted in prod",
    (REPOSITORY,),
    "advisory",
    "low",
    "prod",
    'Set encryption_configurations=[{encryption_type: "KMS", kms_key: <key ARN>}] and leave '
    "force_delete False in prod.",
)
def a3(repository: Resource, context: Context) -> list[str]:
    found = expect(repository, "encryptionConfigurations[0].encryptionType", ("KMS",))
    if not is_set(repository, "encryptionConfigurations[0].kmsKey"):
        found.append("encryptionConfigurations[0].kmsKey is not set (AWS managed key)")
    return found + expect(repository, "forceDelete", (False,), False)


# --- A4-A7: the load balancer --------------------------------------------------------------------


@resource_rule(
    "A4",
    "Plain HTTP only redirects to HTTPS",
    (LISTENER,),
    "mandatory",
    "critical",
    "all",
    'Give every HTTP listener only a redirect action: protocol "HTTPS", port "443", '
    'status_code "HTTP_301".',
)
def a4(listener: Resource, context: Context) -> Iterator[str]:
    if listener.get("protocol", "HTTP") != "HTTP":
        return
    actions = items(listener, "defaultActions")
    if not actions:
        yield "defaultActions is not set on an HTTP listener, expected a redirect to HTTPS"
    for action in actions:
        kind = listener.get(f"{action}.type")
        if kind != "redirect":
            yield f"{action}.type is {show(kind)}: plain HTTP reaches a target, expected redirect"
            continue
        yield from expect(listener, f"{action}.redirect.protocol", ("HTTPS",))
        port = listener.get(f"{action}.redirect.port")
        if show(port).strip("'") != "443":  # a string in the schema; a number if passed as one
            yield f"{action}.redirect.port is {show(port)}, expected '443'"
        yield from expect(listener, f"{action}.redirect.statusCode", ("HTTP_301",))


@resource_rule(
    "A5",
    "HTTPS listener uses a TLS 1.3 / forward-secrecy policy",
    (LISTENER,),
    "mandatory",
    "high",
    "all",
    'Set ssl_policy="ELBSecurityPolicy-TLS13-1-2-Res-2021-06" (or another policy of the '
    "allow-list) on every HTTPS listener; the default ELBSecurityPolicy-2016-08 allows TLS 1.0.",
)
def a5(listener: Resource, context: Context) -> list[str]:
    if listener.get("protocol") not in ("HTTPS", "TLS"):
        return []
    policy = listener.get("sslPolicy")
    if policy is None:
        return ["sslPolicy is not set (the default ELBSecurityPolicy-2016-08 allows TLS 1.0)"]
    if policy not in TLS_POLICIES:
        return [f"sslPolicy is {show(policy)}, not a TLS 1.3 or forward-secrecy policy"]
    return []


@resource_rule(
    "A6",
    "ALB drops invalid headers, logs access; deletion protection in prod",
    (LOAD_BALANCER,),
    "mandatory",
    "medium",
    "all",
    "Set drop_invalid_header_fields=True and access_logs (bucket, enabled=True); in prod also "
    "enable_deletion_protection=True.",
)
def a6(balancer: Resource, context: Context) -> list[str]:
    found = []
    if balancer.get("loadBalancerType", "application") == "application":
        found += expect(balancer, "dropInvalidHeaderFields", (True,))
    found += expect(balancer, "accessLogs.enabled", (True,))
    if context.environment == "prod":
        found += expect(balancer, "enableDeletionProtection", (True,))
    return found


def acl_problems(acl: Resource) -> Iterator[str]:
    rules = items(acl, "rules")
    if not any(
        acl.get(f"{rule}.statement.rateBasedStatement") is not None
        and acl.get(f"{rule}.action.block") is not None
        for rule in rules
    ):
        yield "rules have no rateBasedStatement rule whose action is block"
    if not any(
        acl.get(f"{rule}.statement.managedRuleGroupStatement.vendorName") == "AWS"
        and acl.get(f"{rule}.statement.managedRuleGroupStatement.name")
        == "AWSManagedRulesCommonRuleSet"
        and acl.get(f"{rule}.overrideAction.count") is None
        for rule in rules
    ):
        yield "rules do not enforce AWS's AWSManagedRulesCommonRuleSet (in force, not count)"


@stack_rule(
    "A7",
    "Internet-facing ALB behind a web ACL with a rate limit and AWS common rules",
    "mandatory",
    "medium",
    "prod",
    "Associate every internet-facing ALB with a REGIONAL WebAcl that has a blocking "
    "rate_based_statement rule and the AWS AWSManagedRulesCommonRuleSet (override_action none).",
)
def a7(resources: Sequence[Resource], context: Context) -> StackViolations:
    if not of_type(resources, LOAD_BALANCER):
        return
    associations = of_type(resources, WEB_ACL_ASSOCIATION)
    targets = {}
    for association in associations:
        ref = association.get("resourceArn")
        balancer = find(resources, LOAD_BALANCER, ref)
        if balancer is None:
            yield association.urn, not_in_stack("resourceArn", ref, "load balancer")
        else:
            targets[association.urn] = balancer
    for balancer in of_type(resources, LOAD_BALANCER):
        if balancer.get("internal") is True:
            continue
        attached = [a for a in associations if targets.get(a.urn) is balancer]
        if not attached:
            yield balancer.urn, "no web ACL is associated with this internet-facing load balancer"
        for association in attached:
            ref = association.get("webAclArn")
            acl = find(resources, WEB_ACL, ref)
            if acl is None:
                yield association.urn, not_in_stack("webAclArn", ref, "web ACL")
            else:
                for message in acl_problems(acl):
                    yield acl.urn, message


# --- A8-A11: ECS ---------------------------------------------------------------------------------


@resource_rule(
    "A8",
    "ECS containers: secrets from Secrets Manager, read-only root, awslogs, unprivileged",
    (TASK_DEFINITION,),
    "mandatory",
    "critical",
    "all",
    "Pass secrets as secrets[].valueFrom (a Secrets Manager or SSM ARN), never in environment; "
    'set readonlyRootFilesystem=true, logConfiguration.logDriver="awslogs", privileged=false.',
)
def a8(task: Resource, context: Context) -> Iterator[str]:
    try:
        definitions = parsed(task, "containerDefinitions")
    except ValueError:
        yield "containerDefinitions is not valid JSON"
        return
    if not isinstance(definitions, list):
        yield f"containerDefinitions is {show(definitions)}, expected a JSON list of containers"
        return
    view = Resource(task.urn, task.type, task.name, {"containerDefinitions": definitions})
    for container in items(view, "containerDefinitions"):
        for env in items(view, f"{container}.environment"):
            name = str(view.get(f"{env}.name", ""))
            if SECRET_LOOKING_NAME.search(name) and view.get(f"{env}.value") is not None:
                yield f"{env} sets {name} in plain text (its value is not shown)"
        for secret in items(view, f"{container}.secrets"):
            source = view.get(f"{secret}.valueFrom")
            if not SECRET_SOURCE.match(str(source)):
                yield (
                    f"{secret}.valueFrom is {show(source)}, expected a Secrets Manager or SSM "
                    "parameter ARN"
                )
        yield from expect(view, f"{container}.readonlyRootFilesystem", (True,))
        yield from expect(view, f"{container}.logConfiguration.logDriver", ("awslogs",))
        yield from expect(view, f"{container}.privileged", (False,), False)


def grant_problems(policy: Any, path: str) -> Iterator[str]:
    """What an execution role's policy document ``policy`` allows beyond reading named secrets
    and decrypting with named keys."""
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except ValueError:
        yield f"{path} is not valid JSON"
        return
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    for i, statement in enumerate(as_list(statements)):
        where = f"{path} Statement[{i}]"
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        for key in ("NotAction", "NotResource"):
            if key in statement:
                yield f"{where} uses {key} (it allows everything not listed)"
        grants = []
        for action in as_list(statement.get("Action")):
            if (grant := EXECUTION_GRANTS.get(str(action).lower())) is None:
                yield (
                    f"{where} allows {action!r}; an execution role may only have "
                    "secretsmanager:GetSecretValue and kms:Decrypt"
                )
            else:
                grants.append(grant)
        for arn in as_list(statement.get("Resource")):
            if grants and not any(pattern.fullmatch(str(arn)) for _, pattern in grants):
                what = " or ".join(sorted({kind for kind, _ in grants}))
                yield f"{where} Resource {arn!r} is not the ARN of a named {what}"


def execution_role_problems(resources: Sequence[Resource], role: Resource) -> StackViolations:
    for arn in as_list(role.get("managedPolicyArns")):
        if arn != EXECUTION_POLICY:
            yield role.urn, f"managedPolicyArns has {arn!r}, expected only {EXECUTION_POLICY}"
    for inline in items(role, "inlinePolicies"):
        for message in grant_problems(role.get(f"{inline}.policy"), f"{inline}.policy"):
            yield role.urn, message
    for attachment in of_type(resources, ROLE_POLICY_ATTACHMENT):
        if find(resources, ROLE, attachment.get("role")) is role:
            for message in expect(attachment, "policyArn", (EXECUTION_POLICY,)):
                yield attachment.urn, f"{message} on the execution role {role.name}"
    for policy in of_type(resources, ROLE_POLICY):
        if find(resources, ROLE, policy.get("role")) is role:
            for message in grant_problems(policy.get("policy"), "policy"):
                yield policy.urn, message


@stack_rule(
    "A9",
    "ECS execution role separate from the task role and least-privilege",
    "mandatory",
    "high",
    "all",
    "Give the task its own task role; give the execution role only "
    "AmazonECSTaskExecutionRolePolicy plus an inline policy allowing "
    "secretsmanager:GetSecretValue on each secret's ARN and kms:Decrypt on the key's ARN.",
)
def a9(resources: Sequence[Resource], context: Context) -> StackViolations:
    checked: set[str] = set()
    for task in of_type(resources, TASK_DEFINITION):
        execution, task_role = task.get("executionRoleArn"), task.get("taskRoleArn")
        if not execution:
            continue
        role = find(resources, ROLE, execution)
        if task_role and (
            execution == task_role
            or (role is not None and find(resources, ROLE, task_role) is role)
        ):
            yield task.urn, f"executionRoleArn and taskRoleArn are the same role {show(execution)}"
        if role is None:
            yield task.urn, not_in_stack("executionRoleArn", execution, "role")
        elif role.urn not in checked:
            checked.add(role.urn)
            yield from execution_role_problems(resources, role)


@resource_rule(
    "A10",
    "ECS service private, rolling back failed deployments; no ECS Exec in prod",
    (ECS_SERVICE,),
    "mandatory",
    "high",
    "all",
    "Run tasks in private subnets with network_configuration.assign_public_ip=False, set "
    "deployment_circuit_breaker (enable and rollback True), and enable_execute_command=False "
    "in prod.",
)
def a10(service: Resource, context: Context) -> list[str]:
    found = expect(service, "networkConfiguration.assignPublicIp", (False,), False)
    found += expect(service, "deploymentCircuitBreaker.enable", (True,))
    found += expect(service, "deploymentCircuitBreaker.rollback", (True,))
    if context.environment == "prod":
        found += expect(service, "enableExecuteCommand", (False,), False)
    return found


@resource_rule(
    "A11",
    "ECS Container Insights in prod",
    (CLUSTER,),
    "advisory",
    "low",
    "prod",
    'Add settings=[{name: "containerInsights", value: "enabled"}] (or "enhanced").',
)
def a11(cluster: Resource, context: Context) -> list[str]:
    for setting in items(cluster, "settings"):
        if cluster.get(f"{setting}.name") == "containerInsights":
            return expect(cluster, f"{setting}.value", CONTAINER_INSIGHTS)
    return ["settings has no containerInsights, expected 'enabled' or 'enhanced'"]


# --- A12-A14: ElastiCache and its network --------------------------------------------------------


@resource_rule(
    "A12",
    "Redis encrypted in transit and at rest, with AUTH",
    (CACHE,),
    "mandatory",
    "critical",
    "all",
    'Set transit_encryption_enabled=True (mode "required"), at_rest_encryption_enabled=True, '
    "and an auth_token (auth_token_wo) or user_group_ids.",
)
def a12(cache: Resource, context: Context) -> list[str]:
    found = expect(cache, "transitEncryptionEnabled", (True,))
    if (mode := cache.get("transitEncryptionMode")) not in (None, "required"):
        found.append(f"transitEncryptionMode is {show(mode)}, expected 'required'")
    found += expect(cache, "atRestEncryptionEnabled", (True,))
    if not any(is_set(cache, key) for key in ("authToken", "authTokenWo", "userGroupIds")):
        found.append("none of authToken, authTokenWo and userGroupIds is set (no AUTH)")
    return found


@resource_rule(
    "A13",
    "Redis lowercase engine; highly available with snapshots in prod",
    (CACHE,),
    "advisory",
    "medium",
    "all",
    'Use engine="redis" (lowercase); in prod set automatic_failover_enabled, '
    "multi_az_enabled, num_cache_clusters >= 2 and snapshot_retention_limit > 0.",
)
def a13(cache: Resource, context: Context) -> list[str]:
    found = []
    engine = cache.get("engine")
    if isinstance(engine, str) and engine != engine.lower():
        found.append(f"engine is {show(engine)}, expected lowercase")
    if context.environment != "prod":
        return found
    found += expect(cache, "automaticFailoverEnabled", (True,))
    found += expect(cache, "multiAzEnabled", (True,))
    nodes, replicas = cache.get("numCacheClusters"), cache.get("replicasPerNodeGroup")
    if not (isinstance(nodes, int | float) and nodes >= 2) and not (
        isinstance(replicas, int | float) and replicas >= 1
    ):
        found.append(f"numCacheClusters is {show(nodes)}, expected >= 2 (a replica)")
    retention = cache.get("snapshotRetentionLimit")
    if not (isinstance(retention, int | float) and retention > 0):
        found.append(f"snapshotRetentionLimit is {show(retention)}, expected > 0")
    return found


def port_span(rule: Resource, prefix: str, protocol_key: str) -> tuple[str, int, int] | None:
    """(protocol, from, to) of an ingress rule; None when it allows every protocol and port."""
    protocol = str(rule.get(f"{prefix}{protocol_key}", "")).lower()
    if protocol in ALL_PROTOCOLS:
        return None
    low, high = rule.get(f"{prefix}fromPort"), rule.get(f"{prefix}toPort")
    return protocol, int(low or 0), int(high if high is not None else low or 0)


def describe(span: tuple[str, int, int] | None) -> str:
    if span is None:
        return "every port"
    protocol, low, high = span
    return f"{protocol} port {low}" if low == high else f"{protocol} ports {low}-{high}"


def ingress_problems(
    rule: Resource, prefix: str, span_key: str, sources: Sequence[str]
) -> Iterator[str]:
    """Messages for one ingress permission whose CIDR/prefix-list sources are at ``sources``."""
    span = port_span(rule, prefix, span_key)
    reachable = (
        [REDIS_PORT, TASK_PORT]
        if span is None
        else [p for p in (REDIS_PORT, TASK_PORT) if span[0] in TCP and span[1] <= p <= span[2]]
    )
    public = span is not None and span[0] in TCP and span[1] == span[2] and span[1] in PUBLIC_PORTS
    for path in sources:
        source = rule.get(path)
        if source is None:
            continue
        if reachable:
            guarded = " and ".join(str(p) for p in reachable)
            ports = f"port {guarded}" if len(reachable) == 1 else f"ports {guarded}"
            yield (
                f"{path} {show(source)} may reach {describe(span)}, but {ports} may only be "
                "reached from a referenced security group (the ALB's or the task's)"
            )
        elif source in INTERNET and not public:
            yield (
                f"{path} {show(source)} may reach {describe(span)}: only tcp 80 and 443 may be "
                "open to the internet"
            )


@resource_rule(
    "A14",
    "Redis and task ports only from security groups; the internet only on 80/443",
    (INGRESS_RULE, SECURITY_GROUP),
    "mandatory",
    "critical",
    "all",
    "Allow 6379 only from the task's security group and 8080 only from the ALB's "
    "(referenced_security_group_id); open only tcp 80 and 443 to 0.0.0.0/0 or ::/0.",
)
def a14(rule: Resource, context: Context) -> Iterator[str]:
    if rule.type == INGRESS_RULE:
        sources = ("cidrIpv4", "cidrIpv6", "prefixListId")
        yield from ingress_problems(rule, "", "ipProtocol", sources)
        return
    for ingress in items(rule, "ingress"):
        sources = [
            path
            for key in ("cidrBlocks", "ipv6CidrBlocks", "prefixListIds")
            for path in items(rule, f"{ingress}.{key}")
        ]
        yield from ingress_problems(rule, f"{ingress}.", "protocol", sources)


# --- A15-A16: Secrets Manager --------------------------------------------------------------------


@resource_rule(
    "A15",
    "Secrets encrypted with a customer-managed key, recoverable, described (prod)",
    (SECRET,),
    "advisory",
    "low",
    "prod",
    "Set kms_key_id to the platform's KMS key, recovery_window_in_days between 7 and 30, and a "
    "description.",
)
def a15(secret: Resource, context: Context) -> list[str]:
    found = [] if is_set(secret, "kmsKeyId") else ["kmsKeyId is not set (AWS managed key)"]
    window = secret.get("recoveryWindowInDays", 30)
    if not (isinstance(window, int | float) and 7 <= window <= 30):
        found.append(f"recoveryWindowInDays is {show(window)}, expected 7-30 in prod")
    if not secret.get("description"):
        found.append("description is not set")
    return found


@resource_rule(
    "A16",
    "Secret values stay out of state",
    (SECRET_VERSION,),
    "advisory",
    "medium",
    "all",
    "Pass the value as secret_string_wo with a secret_string_wo_version (write-only).",
)
def a16(version: Resource, context: Context) -> list[str]:
    found = [
        f"{key} is set: its value is kept (encrypted) in state"
        if is_wire_secret(version, key)
        else f"{key} is set in plain text: its value is kept unencrypted in state"
        for key in ("secretString", "secretBinary")
        if is_set(version, key)
    ]
    if is_set(version, "secretStringWo") and version.get("secretStringWoVersion") is None:
        found.append(
            "secretStringWoVersion is not set (a new secretStringWo would not roll a version)"
        )
    return found


# --- A17-A19: logs, alarms, certificates ---------------------------------------------------------


@resource_rule(
    "A17",
    "Log retention set; logs encrypted with a KMS key in prod",
    (LOG_GROUP,),
    "mandatory",
    "medium",
    "all",
    "Set retention_in_days (e.g. 30 in dev, 365 in prod; 0 keeps logs forever) and, in prod, "
    "kms_key_id.",
)
def a17(group: Resource, context: Context) -> list[str]:
    retention = group.get("retentionInDays")
    found = [] if retention else [f"retentionInDays is {show(retention)} (logs are kept forever)"]
    if context.environment == "prod" and not is_set(group, "kmsKeyId"):
        found.append("kmsKeyId is not set, expected a KMS key in prod")
    return found


def metric_paths(alarm: Resource) -> list[str]:
    """Path prefixes of an alarm's metrics: its own, or each metric query's ``metric``."""
    if alarm.get("metricName") is not None:
        return [""]
    return [f"{q}.metric." for q in items(alarm, "metricQueries") if alarm.get(f"{q}.metric")]


def dimension_name(dimension: str, value: str) -> str:
    """The name a dimension value carries: ``app/<name>/<hash>`` for a load balancer, the
    group id before ``-001`` for a cache node."""
    if dimension == "LoadBalancer" and len(parts := value.split("/")) == 3:
        return parts[1]
    if dimension == "CacheClusterId":
        return re.sub(r"-\d{3}$", "", value)
    return value


@stack_rule(
    "A18",
    "Alarms with actions on the ALB, ECS service and Redis metrics",
    "mandatory",
    "medium",
    "prod",
    "Add MetricAlarms with alarm_actions (an SNS topic) on ALB HTTPCode_Target_5XX_Count, "
    "TargetResponseTime and UnHealthyHostCount, ECS CPUUtilization and MemoryUtilization, and "
    "ElastiCache DatabaseMemoryUsagePercentage and EngineCPUUtilization.",
)
def a18(resources: Sequence[Resource], context: Context) -> StackViolations:
    if not of_type(resources, LOAD_BALANCER):
        return
    covered: set[tuple[str, str]] = set()
    for alarm in of_type(resources, ALARM):
        watching = False
        for prefix in metric_paths(alarm):
            namespace, metric = alarm.get(f"{prefix}namespace"), alarm.get(f"{prefix}metricName")
            for type_token, what, space, metrics, dimensions in WATCHED:
                if namespace != space or metric not in metrics:
                    continue
                watching = True
                key = next(
                    (d for d in dimensions if alarm.get(f"{prefix}dimensions.{d}") is not None),
                    dimensions[0],
                )
                path = f"{prefix}dimensions.{key}"
                value = alarm.get(path)
                target = find(resources, type_token, dimension_name(key, str(value or "")))
                if value is None:
                    yield alarm.urn, f"{path} is not set, so it watches no {what} of this stack"
                elif target is None:
                    yield alarm.urn, not_in_stack(path, value, what)
                else:
                    nodes = [str(value)] if key == "CacheClusterId" else watched_nodes(target)
                    covered.update((target.urn, metric, node) for node in nodes)
        if watching and not alarm.get("alarmActions"):
            yield alarm.urn, "alarmActions is not set (the alarm notifies nobody)"
    for type_token, _, space, metrics, _ in WATCHED:
        for target in of_type(resources, type_token):
            for metric in metrics:
                nodes = watched_nodes(target)
                missing = [n for n in nodes if (target.urn, metric, n) not in covered]
                if missing == nodes:
                    yield target.urn, f"no alarm watches {space} {metric}"
                    continue
                for node in missing:  # a node (of a replication group) nobody watches
                    yield target.urn, f"no alarm watches {space} {metric} on node {node}"


def watched_nodes(target: Resource) -> list[str]:
    """What each metric must be watched on: every node of a replication group (ElastiCache
    reports per node, ``<group id>-001``...), else the resource as a whole ("")."""
    if target.type != CACHE:
        return [""]
    group = target.get("replicationGroupId", target.name)
    count = int(target.get("numCacheClusters", 1) or 1)
    return [f"{group}-{i:03d}" for i in range(1, count + 1)]


@resource_rule(
    "A19",
    "ACM certificate validated by DNS (auto-renewing)",
    (CERTIFICATE,),
    "advisory",
    "low",
    "all",
    'Request the certificate with validation_method="DNS" and keep the validation record, so '
    "ACM renews it.",
)
def a19(certificate: Resource, context: Context) -> list[str]:
    return expect(certificate, "validationMethod", ("DNS",))


# --- X1-X2: tags, destroyability -----------------------------------------------------------------


@resource_rule(
    "X1",
    "Required tags, env matching the stack",
    TAGGED,
    "advisory",
    "low",
    "all",
    "Tag every resource with env (the stack's environment), service and owner "
    "(tags=infra.labels.standard_labels(environment)).",
)
def x1(resource: Resource, context: Context) -> Iterator[str]:
    yield from missing_labels(resource, "tags", context)


def blocks_destroy(resource: Resource) -> Iterator[str]:
    yield from options_blocking_destroy(resource)
    if resource.type == LOAD_BALANCER and resource.get("enableDeletionProtection") is True:
        yield "enableDeletionProtection is True"
    if resource.type == REPOSITORY and (value := resource.get("forceDelete")) is not True:
        yield f"forceDelete is {show(value)} (a repository holding images cannot be deleted)"
    if resource.type in BUCKETS and (value := resource.get("forceDestroy")) is not True:
        yield f"forceDestroy is {show(value)} (a bucket holding objects cannot be deleted)"


@stack_rule(
    "X2",
    "Dev destroyable; prod state kept",
    "advisory",
    "medium",
    "all",
    "In dev, set no protect/retain_on_delete, enable_deletion_protection=False, and "
    "force_delete/force_destroy=True on the registry and buckets; in prod, give the Redis "
    "replication group, secrets and the registry protect=True and retain_on_delete=True.",
)
def x2(resources: Sequence[Resource], context: Context) -> StackViolations:
    return x2_violations(resources, context, blocks_destroy, KEPT_IN_PROD)


AWS_RULES: tuple[Rule, ...] = (
    a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, x1, x2,
)  # fmt: skip
