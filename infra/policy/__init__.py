"""Security rules for the deployment, as plain functions that the offline plan
(`emg infra plan --policy`) and the Pulumi policy pack (``__main__.py``) both call: the engine
in `infra.policy.engine`, the rules of each cloud in `gcp_rules` and `aws_rules` (shared helpers
in `common`), and `rules.rules_for(cloud)` to pick them."""
