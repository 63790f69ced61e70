"""Pulumi type tokens the infra tests look for: the policy rules' own list, plus the few types no
rule concerns. Aliases keep the names the test files read best with."""

from infra.policy.gcp_rules import (
    ALERT,
    ARMOR,
    BACKEND,
    CERTIFICATE,
    CHANNEL,
    FORWARDING_RULE,
    HTTP_PROXY,
    HTTPS_PROXY,
    INVOKER,
    REDIS,
    REPOSITORY,
    SECRET,
    SECRET_IAM,
    SECRET_VERSION,
    SERVICE,
    SSL_POLICY,
    UPTIME,
    URL_MAP,
)
from infra.policy.gcp_rules import GLOBAL_ADDRESS as ADDRESS

__all__ = [
    "ACCESS", "ACCOUNT", "ADDRESS", "ALERT", "ARMOR", "BACKEND", "CERTIFICATE", "CHANNEL",
    "DASHBOARD", "FORWARDING_RULE", "HTTPS_PROXY", "HTTP_PROXY", "IAM_MEMBER", "IMAGE", "INVOKER",
    "NEG", "PEERING", "REDIS", "REPOSITORY", "SECRET", "SECRET_IAM", "SECRET_VERSION",
    "SERVICE", "SSL_POLICY", "SUBNET", "UPTIME", "URL_MAP", "VERSION", "VPC",
]  # fmt: skip

ACCESS = SECRET_IAM
IAM_MEMBER = INVOKER
VERSION = SECRET_VERSION
ACCOUNT = "gcp:serviceaccount/account:Account"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
IMAGE = "docker:index/image:Image"
NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
PEERING = "gcp:servicenetworking/connection:Connection"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
VPC = "gcp:compute/network:Network"
