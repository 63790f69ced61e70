"""`LoadBalancer`: the public HTTPS entry of the API, an internet-facing Application Load Balancer
in front of the Fargate tasks (IP target group), with its certificate, DNS, WAF and access logs.

Security properties (rows of the table in INFRA_NOTES.md) this component holds by construction:

- A4 port 80 has one listener whose only action redirects to HTTPS 443 with HTTP_301.
- A5 the HTTPS listener uses ``ELBSecurityPolicy-TLS13-1-2-2021-06`` (TLS 1.3, 1.2 with forward
  secrecy; the provider default is the weak 2016-08 policy) and the DNS-validated certificate.
- A6 the ALB drops invalid header fields, mitigates request desync, writes access logs to a
  private, encrypted bucket, and has deletion protection in prod (refused otherwise).
- A7 a regional WebACL with a per-client-IP rate-based rule and the AWS managed common and
  known-bad-inputs rule groups is associated with the ALB.
- A19 the ACM certificate is validated by DNS records in the given Route 53 zone, so it renews
  itself.

The target group checks liveness, not readiness: a database outage must not drain every task.
The idle timeout and deregistration delay cover an analysis (the service's 300 s processing
timeout plus the upload), so neither cuts a request the service is still answering; draining
ends as soon as a task has no request in flight, so deploys only wait for real work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.addresses import validate_hostname
from infra.labels import validate_labels

ENVIRONMENTS = ("dev", "prod")
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
IDLE_TIMEOUT_S = 360
DEREGISTRATION_DELAY_S = IDLE_TIMEOUT_S
ACCESS_LOG_PREFIX = "alb"
RATE_LIMIT_WINDOW_S = 60
RATE_LIMIT_RANGE = (10, 2_000_000_000)  # WAF's bounds for a rate-based rule's limit
RETENTION_DAYS_RANGE = (1, 3650)
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
# Over 8 KB of body: our multipart C3D uploads and webhooks are larger (see waf_rules).
BODY_SIZE_RULE = "SizeRestrictions_BODY"
_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,32}")
_PATH = re.compile(r"/[A-Za-z0-9/_.~-]*")
# The ALB and target group names (at most 32 characters) are "<name>-alb-" / "<name>-tg-" plus
# Pulumi's 7-character suffix.
_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")


@dataclass(frozen=True)
class LoadBalancerArgs:
    environment: str
    tags: dict[str, str]
    domain: str
    """API host name; the certificate is issued for it and an alias record points it at the ALB."""
    hosted_zone_id: str
    """Route 53 public hosted zone that holds ``domain``."""
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    security_group_id: pulumi.Input[str]
    """The ALB's own security group (443/80 in from the internet, out only to the tasks)."""
    deletion_protection: bool
    rate_limit_per_minute: int
    """Requests one client IP may send per minute before WAF answers 429."""
    access_log_retention_days: int
    container_port: int = 8080
    health_path: str = "/health/liveness"

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"environment {self.environment!r} must be one of {ENVIRONMENTS}")
        validate_labels(self.tags)
        validate_hostname("domain", self.domain)
        if not isinstance(self.hosted_zone_id, str) or not _ZONE_ID.fullmatch(self.hosted_zone_id):
            raise ValueError(
                f"hosted_zone_id {self.hosted_zone_id!r} must be a Route 53 zone id: 'Z' then "
                "1-32 upper-case letters or digits"
            )
        if self.environment == "prod" and not self.deletion_protection:
            raise ValueError(
                f"deletion_protection ({self.deletion_protection}) must be True in prod (rule A6)"
            )
        low, high = RATE_LIMIT_RANGE
        if not low <= self.rate_limit_per_minute <= high:
            raise ValueError(
                f"rate_limit_per_minute ({self.rate_limit_per_minute}) must be from {low} to "
                f"{high} (WAF rate-based rule limits)"
            )
        low, high = RETENTION_DAYS_RANGE
        if not low <= self.access_log_retention_days <= high:
            raise ValueError(
                f"access_log_retention_days ({self.access_log_retention_days}) must be from "
                f"{low} to {high}"
            )
        if not 1 <= self.container_port <= 65535:
            raise ValueError(f"container_port ({self.container_port}) must be from 1 to 65535")
        if not _PATH.fullmatch(self.health_path):
            raise ValueError(
                f"health_path {self.health_path!r} must be an absolute path like /health/liveness"
            )


def access_log_bucket_policy(
    bucket_arn: str, account_id: str, elb_account_arn: str
) -> dict[str, Any]:
    """The access-log bucket's policy: ELB may write under ``alb/AWSLogs/<account>/``, both as
    the regional ELB account (regions opened before August 2022) and as the log-delivery service
    (newer regions); nobody may use the bucket without TLS."""
    logs = f"{bucket_arn}/{ACCESS_LOG_PREFIX}/AWSLogs/{account_id}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ElbAccountWritesAccessLogs",
                "Effect": "Allow",
                "Principal": {"AWS": elb_account_arn},
                "Action": "s3:PutObject",
                "Resource": logs,
            },
            {
                "Sid": "ElbLogDeliveryWritesAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": ELB_LOG_DELIVERY},
                "Action": "s3:PutObject",
                "Resource": logs,
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def _visibility(metric_name: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


def _managed_group(
    metric_prefix: str,
    group: str,
    priority: int,
    overrides: Sequence[str] = (),
) -> aws.wafv2.WebAclRuleArgs:
    """An AWS managed rule group with its own actions (``override_action`` none), except the
    rules in ``overrides``, which only count."""
    count = aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
        count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
    )
    return aws.wafv2.WebAclRuleArgs(
        name=group,
        priority=priority,
        override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
            none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
        ),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                vendor_name="AWS",
                name=group,
                rule_action_overrides=[
                    aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                        name=rule, action_to_use=count
                    )
                    for rule in overrides
                ]
                or None,
            )
        ),
        visibility_config=_visibility(f"{metric_prefix}-{group}"),
    )


def waf_rules(metric_prefix: str, rate_limit_per_minute: int) -> list[aws.wafv2.WebAclRuleArgs]:
    """The WebACL's rules, cheapest first: per-IP rate limit (429), known bad inputs, common."""
    rate_limit = aws.wafv2.WebAclRuleArgs(
        name="rate-limit-per-ip",
        priority=10,
        action=aws.wafv2.WebAclRuleActionArgs(
            block=aws.wafv2.WebAclRuleActionBlockArgs(
                custom_response=aws.wafv2.WebAclRuleActionBlockCustomResponseArgs(response_code=429)
            )
        ),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                aggregate_key_type="IP",
                limit=rate_limit_per_minute,
                evaluation_window_sec=RATE_LIMIT_WINDOW_S,
            )
        ),
        visibility_config=_visibility(f"{metric_prefix}-rate-limit-per-ip"),
    )
    return [
        rate_limit,
        _managed_group(metric_prefix, "AWSManagedRulesKnownBadInputsRuleSet", 20),
        # SizeRestrictions_BODY blocks any body over 8 KB, i.e. every C3D upload (multipart, up
        # to tens of MB, POST /upload) and most storage webhooks: it only counts here. The
        # service enforces its own upload size limit.
        _managed_group(
            metric_prefix, "AWSManagedRulesCommonRuleSet", 30, overrides=[BODY_SIZE_RULE]
        ),
    ]


class LoadBalancer(pulumi.ComponentResource):
    """Access-log bucket, ALB, IP target group, DNS-validated certificate, HTTPS listener, the
    port-80 redirect, the alias record, and the WAF WebACL guarding the ALB."""

    https_url: pulumi.Output[str]
    """``https://<domain>``."""
    target_group_arn: pulumi.Output[str]
    load_balancer_arn: pulumi.Output[str]
    load_balancer_arn_suffix: pulumi.Output[str]
    """CloudWatch dimension ``LoadBalancer``."""
    target_group_arn_suffix: pulumi.Output[str]
    """CloudWatch dimension ``TargetGroup``."""
    https_listener: aws.lb.Listener
    """The ECS service depends on it (a target group must be attached before tasks register)."""
    web_acl_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not _NAME.fullmatch(name):
            raise ValueError(
                f"LoadBalancer name {name!r} must be a lowercase letter then at most 19 "
                "lowercase letters, digits or '-' (ALB and target group names are at most 32 "
                "characters)"
            )
        super().__init__("emg:aws:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        dev = args.environment == "dev"

        bucket = aws.s3.Bucket(f"{name}-access-logs", force_destroy=dev, tags=args.tags, opts=child)
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-access-logs-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-access-logs-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        # ALB access logs can only be written to SSE-S3 buckets, not SSE-KMS.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-access-logs-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-access-logs-expiry",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.access_log_retention_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=child,
        )
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        elb_account_arn = aws.elb.get_service_account_output(opts=invoke).arn
        bucket_policy = aws.s3.BucketPolicy(
            f"{name}-access-logs-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, account_id, elb_account_arn).apply(
                lambda values: json.dumps(access_log_bucket_policy(*values))
            ),
            # S3 refuses concurrent policy and public-access-block changes on one bucket.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )

        alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            internal=False,
            load_balancer_type="application",
            ip_address_type="ipv4",
            subnets=args.public_subnet_ids,
            security_groups=[args.security_group_id],
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            idle_timeout=IDLE_TIMEOUT_S,
            enable_deletion_protection=args.deletion_protection,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=bucket.id, prefix=ACCESS_LOG_PREFIX, enabled=True
            ),
            tags=args.tags,
            # The ALB checks that it may write to the bucket when access logs are turned on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket_policy]),
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            target_type="ip",
            protocol="HTTP",
            port=args.container_port,
            vpc_id=args.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY_S,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=args.health_path,
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=args.tags,
            opts=child,
        )

        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=args.domain,
            validation_method="DNS",
            tags=args.tags,
            opts=child,
        )
        # One domain, no alternative names: exactly one validation record.
        option = certificate.domain_validation_options.apply(lambda options: options[0])
        validation_record = aws.route53.Record(
            f"{name}-certificate-validation-record",
            zone_id=args.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=60,
            # The record only depends on the domain: a replacement certificate gets the same.
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[validation_record.fqdn],
            opts=child,
        )

        self.https_listener = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=validation.certificate_arn,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
            ],
            tags=args.tags,
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-http-redirect",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            tags=args.tags,
            opts=child,
        )
        aws.route53.Record(
            f"{name}-alias",
            zone_id=args.hosted_zone_id,
            name=args.domain,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=alb.dns_name, zone_id=alb.zone_id, evaluate_target_health=True
                )
            ],
            opts=child,
        )

        web_acl = aws.wafv2.WebAcl(
            f"{name}-waf",
            scope="REGIONAL",
            description=f"EMG Analyzer {args.environment} API: per-IP rate limit, managed rules",
            default_action=aws.wafv2.WebAclDefaultActionArgs(
                allow=aws.wafv2.WebAclDefaultActionAllowArgs()
            ),
            rules=waf_rules(name, args.rate_limit_per_minute),
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True,
                metric_name=f"{name}-waf",
                sampled_requests_enabled=True,
            ),
            tags=args.tags,
            opts=child,
        )
        aws.wafv2.WebAclAssociation(
            f"{name}-waf-association",
            resource_arn=alb.arn,
            web_acl_arn=web_acl.arn,
            opts=child,
        )

        self.https_url = pulumi.Output.from_input(f"https://{args.domain}")
        self.target_group_arn = target_group.arn
        self.load_balancer_arn = alb.arn
        self.load_balancer_arn_suffix = alb.arn_suffix
        self.target_group_arn_suffix = target_group.arn_suffix
        self.web_acl_arn = web_acl.arn
        self.register_outputs(
            {
                "https_url": self.https_url,
                "target_group_arn": self.target_group_arn,
                "load_balancer_arn": self.load_balancer_arn,
                "load_balancer_arn_suffix": self.load_balancer_arn_suffix,
                "target_group_arn_suffix": self.target_group_arn_suffix,
                "https_listener": self.https_listener,
                "web_acl_arn": self.web_acl_arn,
            }
        )
