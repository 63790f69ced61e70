"""Bearer tokens as the frontend's auth provider (Supabase) issues them: HS256 JWTs signed with
JWT_SECRET, audience ``authenticated``, expiry required."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

AUDIENCE = "authenticated"
_ADMIN_ROLES = {"service_role", "admin"}


class AuthError(Exception):
    """The token is missing or not valid; the message is safe to return."""


@dataclass(frozen=True)
class User:
    id: str
    is_admin: bool = False

    def may_see(self, owner_id: str | None) -> bool:
        return self.is_admin or (owner_id is not None and owner_id == self.id)


def user_from_token(token: str, secret: str) -> User:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token has expired") from None
    except jwt.InvalidAudienceError:
        raise AuthError(f"token audience must be {AUDIENCE!r}") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidTokenError:
        raise AuthError("token is not valid") from None
    app_role = (claims.get("app_metadata") or {}).get("role")
    return User(id=str(claims["sub"]), is_admin=bool({claims.get("role"), app_role} & _ADMIN_ROLES))


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when absent."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return token.strip()
