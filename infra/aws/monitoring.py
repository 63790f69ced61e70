"""`Monitoring`: who hears about trouble on AWS, and what they see.

An SNS topic with one e-mail subscription per alert address; CloudWatch alarms on the ALB
(5xx ratio, p95 latency, unhealthy targets), the ECS service (CPU, memory) and every Redis
member cluster (memory, engine CPU), each notifying the topic on ALARM and on OK; one dashboard
with the same signals.

A18 (INFRA_NOTES.md) holds by construction: every alarm the rule names exists, with
``alarm_actions``. Prod without an alert address is refused; dev may run with none.

The topic is encrypted with the stack's key (infra.aws.encryption), whose policy lets this
account's CloudWatch alarms use it: with the AWS-managed ``alias/aws/sns`` key CloudWatch cannot
publish, so every alarm notification would fail silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.addresses import validate_alert_emails
from infra.labels import SERVICE, stack_name, validate_labels

ENVIRONMENTS = ("dev", "prod")
PERIOD_S = 60
EVALUATION_PERIODS = 5
DATAPOINTS_TO_ALARM = 3
"""An alarm fires when 3 of the last 5 one-minute periods breach."""
ALB = "AWS/ApplicationELB"
ECS = "AWS/ECS"
ELASTICACHE = "AWS/ElastiCache"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
# ElastiCache cluster ids: a letter, then letters, digits and single hyphens, 1-50 characters.
_CACHE_CLUSTER_ID = re.compile(r"(?!.*--)[a-z][a-z0-9-]{0,48}[a-z0-9]|[a-z]")


@dataclass(frozen=True)
class MonitoringArgs:
    environment: str
    region: str
    tags: dict[str, str]
    alert_emails: Sequence[str]
    """Who is notified; may be empty in dev, at least one in prod."""
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    redis_cluster_ids: Sequence[str]
    """ElastiCache member clusters (dimension ``CacheClusterId``), e.g. ``emg-dev-redis-001``."""
    latency_p95_ms: int
    error_ratio: float
    """Share of target 5xx responses among all requests that alerts, in (0, 1)."""
    redis_memory_percent: int
    kms_key_arn: pulumi.Input[str]
    """The stack's key (infra.aws.encryption): encrypts the alert topic."""
    cpu_percent: int = 80
    """ECS service CPU and Redis engine CPU threshold."""
    memory_percent: int = 85
    """ECS service memory threshold."""

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"environment {self.environment!r} must be one of {ENVIRONMENTS}")
        if not isinstance(self.region, str) or not _REGION.fullmatch(self.region):
            raise ValueError(f"region {self.region!r} must be an AWS region like eu-west-1")
        validate_labels(self.tags)
        validate_alert_emails(self.alert_emails, self.environment, "A18")
        if isinstance(self.redis_cluster_ids, str) or not self.redis_cluster_ids:
            raise ValueError(
                f"redis_cluster_ids {self.redis_cluster_ids!r} must be a non-empty sequence of "
                "cluster ids (A18 wants Redis alarms)"
            )
        for cluster_id in self.redis_cluster_ids:
            if not isinstance(cluster_id, str) or not _CACHE_CLUSTER_ID.fullmatch(cluster_id):
                raise ValueError(
                    f"redis cluster id {cluster_id!r} must be 1-50 lowercase letters, digits or "
                    "single '-', starting with a letter, like emg-dev-redis-001"
                )
        if len(set(self.redis_cluster_ids)) != len(self.redis_cluster_ids):
            raise ValueError(f"redis_cluster_ids {list(self.redis_cluster_ids)!r} repeat an id")
        if self.latency_p95_ms <= 0:
            raise ValueError(f"latency_p95_ms ({self.latency_p95_ms}) must be > 0")
        if not 0 < self.error_ratio < 1:
            raise ValueError(f"error_ratio ({self.error_ratio}) must be between 0 and 1")
        for field in ("redis_memory_percent", "cpu_percent", "memory_percent"):
            value = getattr(self, field)
            if not 0 < value <= 100:
                raise ValueError(f"{field} ({value}) must be from 1 to 100")


def dashboard_name(stack: str) -> str:
    return f"{SERVICE}-{stack}"


def dashboard_url(region: str, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name={name}"
    )


def _widget(
    title: str,
    metrics: list[list[Any]],
    x: int,
    y: int,
    region: str,
    stat: str = "Average",
    threshold: float | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "period": PERIOD_S,
        "stat": stat,
        "metrics": metrics,
    }
    if threshold is not None:
        properties["annotations"] = {"horizontal": [{"label": "alarm", "value": threshold}]}
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": properties}


def dashboard_body(
    args: MonitoringArgs, load_balancer: str, target_group: str, cluster: str, service: str
) -> dict[str, Any]:
    """The dashboard: requests and 5xx, latency percentiles, target health, ECS CPU and memory,
    Redis memory and engine CPU."""
    lb = ["LoadBalancer", load_balancer]
    lb_tg = [*lb, "TargetGroup", target_group]
    ecs = ["ClusterName", cluster, "ServiceName", service]
    region = args.region
    latency = [
        [ALB, "TargetResponseTime", *lb_tg, {"stat": f"p{p}", "label": f"p{p}"}]
        for p in (50, 95, 99)
    ]
    redis = [
        [ELASTICACHE, metric, "CacheClusterId", cluster_id, {"label": f"{cluster_id} {label}"}]
        for cluster_id in args.redis_cluster_ids
        for metric, label in (
            ("DatabaseMemoryUsagePercentage", "memory %"),
            ("EngineCPUUtilization", "engine CPU %"),
        )
    ]
    widgets = [
        _widget(
            "Requests and 5xx (per minute)",
            [
                [ALB, "RequestCount", *lb_tg, {"label": "requests"}],
                [ALB, "HTTPCode_Target_5XX_Count", *lb_tg, {"label": "target 5xx"}],
                [ALB, "HTTPCode_ELB_5XX_Count", *lb, {"label": "load balancer 5xx"}],
            ],
            0,
            0,
            region,
            stat="Sum",
        ),
        _widget(
            "Target response time (s)",
            latency,
            12,
            0,
            region,
            threshold=args.latency_p95_ms / 1000,
        ),
        _widget(
            "Healthy and unhealthy targets",
            [
                [ALB, "HealthyHostCount", *lb_tg, {"label": "healthy"}],
                [ALB, "UnHealthyHostCount", *lb_tg, {"label": "unhealthy"}],
            ],
            0,
            6,
            region,
            stat="Maximum",
        ),
        _widget(
            "ECS service CPU and memory (%)",
            [
                [ECS, "CPUUtilization", *ecs, {"label": "CPU %"}],
                [ECS, "MemoryUtilization", *ecs, {"label": "memory %"}],
            ],
            12,
            6,
            region,
        ),
        _widget("Redis memory and engine CPU (%)", redis, 0, 12, region),
    ]
    return {"widgets": widgets}


class Monitoring(pulumi.ComponentResource):
    """Alert topic and subscriptions, the A18 alarms, and a dashboard of one environment."""

    topic_arn: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]
    """Console URL of the dashboard."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("emg:aws:Monitoring", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        env = args.environment

        topic = aws.sns.Topic(
            f"{name}-alerts",
            display_name=f"EMG Analyzer {env} alerts",
            kms_master_key_id=args.kms_key_arn,
            tags=args.tags,
            opts=child,
        )
        for email in args.alert_emails:
            aws.sns.TopicSubscription(
                # Named by address: removing one address leaves the others' confirmations.
                f"{name}-alerts-{email.lower()}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
        self._topic_arn = topic.arn

        lb_tg = {
            "LoadBalancer": args.load_balancer_arn_suffix,
            "TargetGroup": args.target_group_arn_suffix,
        }
        ecs = {"ClusterName": args.cluster_name, "ServiceName": args.service_name}

        def target_metric(metric: str) -> aws.cloudwatch.MetricAlarmMetricQueryMetricArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=ALB, metric_name=metric, dimensions=lb_tg, period=PERIOD_S, stat="Sum"
            )

        self._alarm(
            "alb-5xx-ratio",
            f"Target 5xx responses above {args.error_ratio:.1%} of requests. Look for errors in "
            "the service's logs (request id in every line).",
            threshold=args.error_ratio,
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="errors", metric=target_metric("HTTPCode_Target_5XX_Count")
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="requests", metric=target_metric("RequestCount")
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="ratio",
                    # No 5xx in a minute means no datapoint: count it as 0.
                    expression="FILL(errors, 0) / requests",
                    label="5xx ratio",
                    return_data=True,
                ),
            ],
        )
        self._alarm(
            "alb-latency-p95",
            f"p95 target response time above {args.latency_p95_ms} ms. Check the task count, "
            "CPU, and the parser and database latencies in /health/detailed.",
            # CloudWatch reports TargetResponseTime in seconds.
            threshold=args.latency_p95_ms / 1000,
            namespace=ALB,
            metric_name="TargetResponseTime",
            extended_statistic="p95",
            dimensions=lb_tg,
        )
        self._alarm(
            "alb-unhealthy-hosts",
            "A task fails its liveness health check. Check the ECS service's events and the "
            "task logs.",
            threshold=0,
            namespace=ALB,
            metric_name="UnHealthyHostCount",
            statistic="Maximum",
            dimensions=lb_tg,
        )
        for metric, role, threshold in (
            ("CPUUtilization", "ecs-cpu", args.cpu_percent),
            ("MemoryUtilization", "ecs-memory", args.memory_percent),
        ):
            self._alarm(
                role,
                f"ECS service {metric} above {threshold}%. Raise the task size or the maximum "
                "task count.",
                threshold=threshold,
                namespace=ECS,
                metric_name=metric,
                statistic="Average",
                dimensions=ecs,
            )
        for cluster_id in args.redis_cluster_ids:
            self._alarm(
                f"redis-memory-{cluster_id}",
                f"Redis {cluster_id} memory above {args.redis_memory_percent}%: entries are "
                "evicted early. Use a larger node type or lower the cache TTL.",
                threshold=args.redis_memory_percent,
                namespace=ELASTICACHE,
                metric_name="DatabaseMemoryUsagePercentage",
                statistic="Average",
                dimensions={"CacheClusterId": cluster_id},
            )
            self._alarm(
                f"redis-cpu-{cluster_id}",
                f"Redis {cluster_id} engine CPU above {args.cpu_percent}%: use a larger node type.",
                threshold=args.cpu_percent,
                namespace=ELASTICACHE,
                metric_name="EngineCPUUtilization",
                statistic="Average",
                dimensions={"CacheClusterId": cluster_id},
            )

        board = dashboard_name(stack_name())
        aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=board,
            dashboard_body=pulumi.Output.all(
                args.load_balancer_arn_suffix,
                args.target_group_arn_suffix,
                args.cluster_name,
                args.service_name,
            ).apply(lambda values: json.dumps(dashboard_body(args, *values), sort_keys=True)),
            opts=child,
        )
        self.topic_arn = topic.arn
        self.dashboard_url = pulumi.Output.from_input(dashboard_url(args.region, board))
        self.register_outputs({"topic_arn": self.topic_arn, "dashboard_url": self.dashboard_url})

    def _alarm(
        self,
        role: str,
        description: str,
        threshold: float,
        metric_queries: list[aws.cloudwatch.MetricAlarmMetricQueryArgs] | None = None,
        **metric: Any,
    ) -> aws.cloudwatch.MetricAlarm:
        """One alarm above ``threshold`` on ``metric_queries`` or one ``metric``, notifying the
        topic on ALARM and on OK; no data (no traffic, no 5xx) is not a breach."""
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{role}",
            alarm_description=f"EMG Analyzer {self._args.environment}: {description}",
            comparison_operator="GreaterThanThreshold",
            threshold=threshold,
            evaluation_periods=EVALUATION_PERIODS,
            datapoints_to_alarm=DATAPOINTS_TO_ALARM,
            metric_queries=metric_queries,
            period=None if metric_queries else PERIOD_S,
            **metric,
            treat_missing_data="notBreaching",
            alarm_actions=[self._topic_arn],
            ok_actions=[self._topic_arn],
            tags=self._args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
