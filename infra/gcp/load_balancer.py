"""`LoadBalancer`: the public HTTPS entry of the API, a global external Application Load Balancer
in front of the Cloud Run service (serverless NEG).

Security properties (rows of the table in INFRA_NOTES.md) this component holds by construction:

- G18 the HTTPS proxy uses an SSL policy with TLS 1.2 minimum and the MODERN profile, and a
  Google-managed certificate for the domain.
- G19 port 80 has its own URL map that only redirects to HTTPS (301, query kept): no backend is
  reachable over plain HTTP.
- G20 the backend service logs every request (sample rate 1.0), is guarded by a Cloud Armor
  policy that throttles each client IP to ``rate_limit_per_minute``, and sets
  ``load_balancing_scheme`` explicitly, equal to both forwarding rules' (pulumi-gcp 10 changed
  the default, and a mismatch fails at deploy time).

A serverless NEG backend takes no health check and no timeout: Cloud Run does both itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from infra.addresses import validate_hostname

RATE_LIMIT_INTERVAL_S = 60
_DEFAULT_RULE_PRIORITY = 2147483647
_RATE_LIMIT_PRIORITY = 1000


@dataclass(frozen=True)
class LoadBalancerArgs:
    project: str
    region: str
    labels: dict[str, str]
    domain: str
    """Host name the certificate is issued for; its DNS A record must point at ``ip_address``."""
    service_name: pulumi.Input[str]
    """The Cloud Run service (same project and region) the NEG points at."""
    rate_limit_per_minute: int
    """Requests one client IP may send per minute before getting 429."""
    scheme: Literal["EXTERNAL_MANAGED"] = "EXTERNAL_MANAGED"


def _validate(args: LoadBalancerArgs) -> None:
    if not args.project or not args.region:
        raise ValueError(f"{args.project=} and {args.region=} must not be empty")
    validate_hostname("domain", args.domain)
    if isinstance(args.rate_limit_per_minute, bool) or args.rate_limit_per_minute <= 0:
        raise ValueError(f"{args.rate_limit_per_minute=} must be > 0")
    if args.scheme != "EXTERNAL_MANAGED":
        raise ValueError(f"{args.scheme=} must be EXTERNAL_MANAGED")


def _all_ips() -> gcp.compute.SecurityPolicyRuleMatchArgs:
    return gcp.compute.SecurityPolicyRuleMatchArgs(
        versioned_expr="SRC_IPS_V1",
        config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]),
    )


class LoadBalancer(pulumi.ComponentResource):
    """Global address, HTTPS frontend (certificate, SSL policy), Cloud Armor, and the port-80
    redirect, all routing to one Cloud Run service."""

    ip_address: pulumi.Output[str]
    """The global IPv4 address: the domain's DNS A record."""
    https_url: pulumi.Output[str]
    """``https://<domain>``."""

    def __init__(
        self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("emg:gcp:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project = args.project

        address = gcp.compute.GlobalAddress(
            f"{name}-address",
            project=project,
            address_type="EXTERNAL",
            ip_version="IPV4",
            labels=args.labels,
            opts=child,
        )

        def forward(rule_name: str, port: str, target: pulumi.Input[str]) -> None:
            """Both ports: same address, same explicit scheme as the backend service (G20)."""
            gcp.compute.GlobalForwardingRule(
                rule_name,
                project=project,
                load_balancing_scheme=args.scheme,
                ip_protocol="TCP",
                ip_address=address.address,
                port_range=port,
                target=target,
                labels=args.labels,
                opts=child,
            )

        neg = gcp.compute.RegionNetworkEndpointGroup(
            f"{name}-neg",
            project=project,
            region=args.region,
            network_endpoint_type="SERVERLESS",
            cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(service=args.service_name),
            opts=child,
        )
        armor = gcp.compute.SecurityPolicy(
            f"{name}-armor",
            project=project,
            type="CLOUD_ARMOR",
            description="Per-client-IP rate limit in front of the API",
            labels=args.labels,
            rules=[
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=_RATE_LIMIT_PRIORITY,
                    action="throttle",
                    description=f"at most {args.rate_limit_per_minute} requests/min per IP",
                    match=_all_ips(),
                    rate_limit_options=gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
                        enforce_on_key="IP",
                        conform_action="allow",
                        exceed_action="deny(429)",
                        rate_limit_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
                            count=args.rate_limit_per_minute,
                            interval_sec=RATE_LIMIT_INTERVAL_S,
                        ),
                    ),
                ),
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=_DEFAULT_RULE_PRIORITY,
                    action="allow",
                    description="default rule",
                    match=_all_ips(),
                ),
            ],
            opts=child,
        )
        backend = gcp.compute.BackendService(
            f"{name}-backend",
            project=project,
            load_balancing_scheme=args.scheme,
            backends=[gcp.compute.BackendServiceBackendArgs(group=neg.id)],
            security_policy=armor.id,
            log_config=gcp.compute.BackendServiceLogConfigArgs(enable=True, sample_rate=1.0),
            opts=child,
        )
        https_map = gcp.compute.URLMap(
            f"{name}-https-map", project=project, default_service=backend.id, opts=child
        )
        certificate = gcp.compute.ManagedSslCertificate(
            f"{name}-certificate",
            project=project,
            type="MANAGED",
            managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[args.domain]),
            # Auto-named, so a new domain gets a new certificate before the one in use goes.
            opts=child,
        )
        ssl_policy = gcp.compute.SSLPolicy(
            f"{name}-ssl-policy",
            project=project,
            min_tls_version="TLS_1_2",
            profile="MODERN",
            opts=child,
        )
        https_proxy = gcp.compute.TargetHttpsProxy(
            f"{name}-https-proxy",
            project=project,
            url_map=https_map.id,
            ssl_certificates=[certificate.id],
            ssl_policy=ssl_policy.id,
            opts=child,
        )
        forward(f"{name}-https", "443", https_proxy.id)

        # Port 80: redirect only, no backend (G19).
        redirect_map = gcp.compute.URLMap(
            f"{name}-http-redirect",
            project=project,
            default_url_redirect=gcp.compute.URLMapDefaultUrlRedirectArgs(
                https_redirect=True,
                redirect_response_code="MOVED_PERMANENTLY_DEFAULT",
                strip_query=False,
            ),
            opts=child,
        )
        http_proxy = gcp.compute.TargetHttpProxy(
            f"{name}-http-proxy", project=project, url_map=redirect_map.id, opts=child
        )
        forward(f"{name}-http", "80", http_proxy.id)

        self.ip_address = address.address
        self.https_url = pulumi.Output.from_input(f"https://{args.domain}")
        self.register_outputs({"ip_address": self.ip_address, "https_url": self.https_url})
