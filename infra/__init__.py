"""The Pulumi program (per cloud components, image build, offline plan): not written yet.

It exists now so the import contracts in pyproject.toml cover it from its first line:
infra may import stacks; the service and emg_core never import infra, stacks or Pulumi.
"""
