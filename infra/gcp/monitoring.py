"""`Monitoring`: who hears about trouble, and what they see.

E-mail notification channels; an HTTPS uptime check on the public health URL; alert policies for
that check failing, the 5xx ratio, p95 latency and (when there is a cache) Redis memory, each
notifying every channel; one dashboard with the same signals.

G21 (INFRA_NOTES.md): the public URL has an uptime check that validates TLS, and an alert policy
with at least one notification channel references it. Prod without an alert address is refused;
dev may run with none (policies then only show in the console).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.addresses import validate_alert_emails, validate_hostname

ENVIRONMENTS = ("dev", "prod")
WINDOW = "300s"
"""Alignment window and how long a condition must hold before it alerts."""
_PATH = re.compile(r"/[A-Za-z0-9/_.~-]*")
_RUN_REVISION = 'resource.type="cloud_run_revision" AND resource.label.service_name="{service}"'
REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
INSTANCE_COUNT = "run.googleapis.com/container/instance_count"
REDIS_MEMORY = "redis.googleapis.com/stats/memory/usage_ratio"
UPTIME_PASSED = "monitoring.googleapis.com/uptime_check/check_passed"


@dataclass(frozen=True)
class MonitoringArgs:
    project: str
    labels: dict[str, str]
    environment: str
    host: str
    """The API's domain: the uptime check calls ``https://<host><health_path>``."""
    alert_emails: Sequence[str]
    service_name: pulumi.Input[str]
    """Cloud Run service whose request metrics are watched."""
    redis_instance_id: pulumi.Input[str] | None
    """Memorystore ``projects/<p>/locations/<r>/instances/<name>``; None: no cache, no alert."""
    latency_p95_ms: int
    error_ratio: float
    """Share of 5xx responses that alerts, in (0, 1)."""
    redis_memory_percent: int
    health_path: str = "/health"


def _validate(args: MonitoringArgs) -> None:
    if not args.project:
        raise ValueError(f"{args.project=} must not be empty")
    if args.environment not in ENVIRONMENTS:
        raise ValueError(f"{args.environment=} must be one of {ENVIRONMENTS}")
    validate_hostname("host", args.host)
    if not _PATH.fullmatch(args.health_path):
        raise ValueError(f"{args.health_path=} must be an absolute path like /health")
    validate_alert_emails(args.alert_emails, args.environment, "G21")
    if args.latency_p95_ms <= 0:
        raise ValueError(f"{args.latency_p95_ms=} must be > 0")
    if not 0 < args.error_ratio < 1:
        raise ValueError(f"{args.error_ratio=} must be between 0 and 1 (exclusive)")
    if not 0 < args.redis_memory_percent <= 100:
        raise ValueError(f"{args.redis_memory_percent=} must be from 1 to 100")


def _slug(email: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-")


def _requests(service: str, extra: str = "") -> str:
    return f'metric.type="{REQUEST_COUNT}" AND {_RUN_REVISION.format(service=service)}{extra}'


_FIVE_XX = ' AND metric.label.response_code_class="5xx"'


def _aggregation(aligner: str, reducer: str, group_by: Sequence[str] = ()) -> dict[str, Any]:
    """An aggregation in the dashboard's JSON form (alert policies use the typed args)."""
    return {
        "alignmentPeriod": "60s",
        "perSeriesAligner": aligner,
        "crossSeriesReducer": reducer,
        "groupByFields": list(group_by),
    }


def _chart(
    title: str, data_sets: list[dict[str, Any]], threshold: float | None = None
) -> dict[str, Any]:
    chart: dict[str, Any] = {"dataSets": data_sets, "timeshiftDuration": "0s"}
    if threshold is not None:
        chart["thresholds"] = [{"value": threshold, "targetAxis": "Y1"}]
    return {"title": title, "xyChart": chart}


def _series(filter_: str, aggregation: dict[str, Any], legend: str = "") -> dict[str, Any]:
    return {
        "timeSeriesQuery": {"timeSeriesFilter": {"filter": filter_, "aggregation": aggregation}},
        "plotType": "LINE",
        "legendTemplate": legend,
    }


def dashboard_json(args: MonitoringArgs, service: str, redis_instance_id: str | None) -> str:
    """The dashboard definition: requests, 5xx ratio, latency, instances, Redis memory."""
    run = _RUN_REVISION.format(service=service)
    rate_sum = _aggregation("ALIGN_RATE", "REDUCE_SUM")
    widgets = [
        _chart(
            "Requests per second by response class",
            [
                _series(
                    _requests(service),
                    _aggregation("ALIGN_RATE", "REDUCE_SUM", ["metric.label.response_code_class"]),
                    "${metric.label.response_code_class}",
                )
            ],
        ),
        _chart(
            "5xx ratio",
            [
                {
                    "timeSeriesQuery": {
                        "timeSeriesFilterRatio": {
                            "numerator": {
                                "filter": _requests(service, _FIVE_XX),
                                "aggregation": rate_sum,
                            },
                            "denominator": {"filter": _requests(service), "aggregation": rate_sum},
                        }
                    },
                    "plotType": "LINE",
                }
            ],
            threshold=args.error_ratio,
        ),
        _chart(
            "Request latency (ms)",
            [
                _series(
                    f'metric.type="{REQUEST_LATENCIES}" AND {run}',
                    _aggregation(f"ALIGN_PERCENTILE_{p}", "REDUCE_MAX"),
                    f"p{p}",
                )
                for p in (50, 95, 99)
            ],
            threshold=args.latency_p95_ms,
        ),
        _chart(
            "Instances",
            [
                _series(
                    f'metric.type="{INSTANCE_COUNT}" AND {run}',
                    _aggregation("ALIGN_MAX", "REDUCE_SUM", ["metric.label.state"]),
                    "${metric.label.state}",
                )
            ],
        ),
    ]
    if redis_instance_id is not None:
        widgets.append(
            _chart(
                "Redis memory used (ratio of max)",
                [
                    _series(
                        f'metric.type="{REDIS_MEMORY}" AND resource.type="redis_instance" '
                        f'AND resource.label.instance_id="{redis_instance_id}"',
                        _aggregation("ALIGN_MEAN", "REDUCE_MAX"),
                    )
                ],
                threshold=args.redis_memory_percent / 100,
            )
        )
    tiles = [
        {"xPos": 24 * (i % 2), "yPos": 16 * (i // 2), "width": 24, "height": 16, "widget": w}
        for i, w in enumerate(widgets)
    ]
    return json.dumps(
        {
            "displayName": f"EMG analyzer ({args.environment})",
            "labels": dict(args.labels),
            "mosaicLayout": {"columns": 48, "tiles": tiles},
        },
        sort_keys=True,
    )


class Monitoring(pulumi.ComponentResource):
    """Notification channels, uptime check, alert policies and dashboard of one environment."""

    dashboard_url: pulumi.Output[str]
    """Console URL of the dashboard."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("emg:gcp:Monitoring", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        env = args.environment

        channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{_slug(email)}",
                project=args.project,
                type="email",
                display_name=f"EMG {env} alerts: {email}",
                labels={"email_address": email},
                user_labels=args.labels,
                opts=child,
            )
            for email in args.alert_emails
        ]
        self._channel_names = [c.name for c in channels]

        uptime = gcp.monitoring.UptimeCheckConfig(
            f"{name}-uptime",
            project=args.project,
            display_name=f"EMG {env}: https://{args.host}{args.health_path}",
            period="60s",
            timeout="10s",
            checker_type="STATIC_IP_CHECKERS",
            http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
                path=args.health_path,
                port=443,
                request_method="GET",
                use_ssl=True,
                validate_ssl=True,
                accepted_response_status_codes=[
                    gcp.monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(
                        status_class="STATUS_CLASS_2XX"
                    )
                ],
            ),
            monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url", labels={"host": args.host, "project_id": args.project}
            ),
            user_labels=args.labels,
            opts=child,
        )

        service = pulumi.Output.from_input(args.service_name)
        self._policy(
            "uptime",
            f"EMG {env}: API down (https://{args.host}{args.health_path})",
            "CRITICAL",
            gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=uptime.uptime_check_id.apply(
                    lambda check: (
                        f'metric.type="{UPTIME_PASSED}" AND resource.type="uptime_url" '
                        f'AND metric.label.check_id="{check}"'
                    )
                ),
                aggregations=[
                    gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                        alignment_period=WINDOW,
                        per_series_aligner="ALIGN_NEXT_OLDER",
                        cross_series_reducer="REDUCE_COUNT_FALSE",
                        group_by_fields=["resource.label.*"],
                    )
                ],
                # More than one checker region failing: the API is down, not one probe's path.
                comparison="COMPARISON_GT",
                threshold_value=1,
                duration="60s",
                trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
            ),
            "The health URL fails from several regions. Check the Cloud Run revision's logs "
            "and the load balancer's backend status.",
        )
        self._policy(
            "errors",
            f"EMG {env}: 5xx ratio above {args.error_ratio * 100:g}%",
            "ERROR",
            gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=service.apply(lambda s: _requests(s, _FIVE_XX)),
                denominator_filter=service.apply(_requests),
                aggregations=[self._rate_sum()],
                denominator_aggregations=[self._rate_sum()],
                comparison="COMPARISON_GT",
                threshold_value=args.error_ratio,
                duration=WINDOW,
            ),
            "More than the allowed share of requests fail with 5xx. Look for errors in the "
            "service's logs (request id in every line).",
        )
        self._policy(
            "latency",
            f"EMG {env}: p95 latency above {args.latency_p95_ms} ms",
            "WARNING",
            gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=service.apply(
                    lambda s: (
                        f'metric.type="{REQUEST_LATENCIES}" AND ' + _RUN_REVISION.format(service=s)
                    )
                ),
                aggregations=[
                    gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                        alignment_period=WINDOW,
                        per_series_aligner="ALIGN_PERCENTILE_95",
                        cross_series_reducer="REDUCE_MAX",
                        group_by_fields=["resource.label.service_name"],
                    )
                ],
                comparison="COMPARISON_GT",
                threshold_value=args.latency_p95_ms,
                duration=WINDOW,
            ),
            "Requests are slow. Check instance count against max instances, CPU, and the "
            "parser and database latencies in /health/detailed.",
        )
        redis = args.redis_instance_id
        if redis is not None:
            self._policy(
                "redis-memory",
                f"EMG {env}: Redis memory above {args.redis_memory_percent}%",
                "WARNING",
                gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=pulumi.Output.from_input(redis).apply(
                        lambda i: (
                            f'metric.type="{REDIS_MEMORY}" AND '
                            f'resource.type="redis_instance" AND resource.label.instance_id="{i}"'
                        )
                    ),
                    aggregations=[
                        gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                            alignment_period=WINDOW, per_series_aligner="ALIGN_MEAN"
                        )
                    ],
                    comparison="COMPARISON_GT",
                    threshold_value=args.redis_memory_percent / 100,
                    duration=WINDOW,
                ),
                "The cache is nearly full: entries will be evicted early. Raise "
                "redisMemoryGb or lower the cache TTL.",
            )

        redis_id = pulumi.Output.from_input(redis) if redis is not None else None
        dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=pulumi.Output.all(service, redis_id).apply(
                lambda values: dashboard_json(args, values[0], values[1])
            ),
            opts=child,
        )
        self.dashboard_url = dashboard.id.apply(
            lambda id_: (
                "https://console.cloud.google.com/monitoring/dashboards/builder/"
                f"{id_.rsplit('/', 1)[-1]}?project={args.project}"
            )
        )
        self.register_outputs({"dashboard_url": self.dashboard_url})

    @staticmethod
    def _rate_sum() -> gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs:
        return gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
            alignment_period=WINDOW,
            per_series_aligner="ALIGN_RATE",
            cross_series_reducer="REDUCE_SUM",
            group_by_fields=["resource.label.service_name"],
        )

    def _policy(
        self,
        role: str,
        display_name: str,
        severity: str,
        condition: gcp.monitoring.AlertPolicyConditionConditionThresholdArgs,
        runbook: str,
    ) -> gcp.monitoring.AlertPolicy:
        """One alert policy with one threshold condition, notifying every channel."""
        return gcp.monitoring.AlertPolicy(
            f"{self._name}-alert-{role}",
            project=self._args.project,
            display_name=display_name,
            combiner="OR",
            severity=severity,
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=display_name, condition_threshold=condition
                )
            ],
            notification_channels=self._channel_names,
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=runbook, mime_type="text/markdown", subject=display_name
            ),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
            user_labels=self._args.labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
