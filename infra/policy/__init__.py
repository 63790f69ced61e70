"""Security rules for the deployment, as plain functions the offline plan (and, later, the
Pulumi policy pack) call. Rules live in `infra.policy.gcp_rules`; the engine in
`infra.policy.engine`."""
