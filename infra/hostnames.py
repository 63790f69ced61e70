"""The host-name check every component that puts a name in DNS or a certificate shares (the
stack configuration's own rule, stacks.config.HOST_NAME), so a bad name is refused before any
resource exists, in the same words on both clouds."""

from __future__ import annotations

from stacks.config import HOST_NAME


def validate_hostname(field: str, value: str) -> None:
    """Refuse anything but a lowercase DNS host name (no scheme, path, port or wildcard)."""
    if not isinstance(value, str) or len(value) > 253 or not HOST_NAME.fullmatch(value):
        raise ValueError(
            f"{field} {value!r} must be a lowercase host name like api.example.org "
            "(no scheme, path or port)"
        )
