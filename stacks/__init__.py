"""Typed stack configuration and the stack-outputs contract.

The only package that reads Pulumi config: infra/ components receive a validated `StackConfig`
(stacks.config), loaded from the committed stack file or from Pulumi (stacks.loader), and
export what `StackOutputs` (stacks.outputs) promises the frontend.
"""
