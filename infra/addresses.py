"""The checks every component that puts a host name in DNS or a certificate, or an e-mail
address in an alert subscription, shares: the stack configuration's own rules
(stacks.config.HOST_NAME and EMAIL), so a bad value is refused before any resource exists, in
the same words on both clouds."""

from __future__ import annotations

from collections.abc import Sequence

from stacks.config import EMAIL, HOST_NAME


def validate_hostname(field: str, value: str) -> None:
    """Refuse anything but a lowercase DNS host name (no scheme, path, port or wildcard)."""
    if not isinstance(value, str) or len(value) > 253 or not HOST_NAME.fullmatch(value):
        raise ValueError(
            f"{field} {value!r} must be a lowercase host name like api.example.org "
            "(no scheme, path or port)"
        )


def validate_alert_emails(emails: Sequence[str], environment: str, rule: str) -> None:
    """Alert recipients: a sequence of distinct addresses, at least one in prod (``rule``, the
    security table row that wants alerts to reach someone)."""
    if isinstance(emails, str):
        raise ValueError(f"alert_emails {emails!r} must be a sequence of addresses, not one string")
    for email in emails:
        if not isinstance(email, str) or not EMAIL.fullmatch(email):
            raise ValueError(f"alert e-mail {email!r} must be an address like name@example.org")
    if len({e.lower() for e in emails}) != len(emails):
        raise ValueError(f"alert_emails {list(emails)!r} lists an address twice")
    if environment == "prod" and not emails:
        raise ValueError(
            f"alert_emails {list(emails)!r}: prod needs at least one alert address "
            f"({rule}: alerts need a recipient)"
        )
