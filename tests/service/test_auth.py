"""Bearer tokens as the auth provider issues them: real HS256 JWTs made with PyJWT and checked by
``user_from_token``; the ``Authorization`` header parsing; who may see a session."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from service.auth import AuthError, User, bearer_token, user_from_token

SECRET = "test-jwt-secret-" + "s" * 56  # 72 bytes: no short-key warning even for HS512
OTHER_SECRET = "other-jwt-secret-" + "o" * 56
USER_ID = "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b"


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims as Supabase puts them in a signed-in user's access token."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": USER_ID,
        "aud": "authenticated",
        "role": "authenticated",
        "exp": now + 3600,
        "iat": now,
        "email": "therapist@example.org",
        "app_metadata": {"provider": "email"},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(secret: str = SECRET, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def refusal(bad_token: str) -> str:
    with pytest.raises(AuthError) as caught:
        user_from_token(bad_token, SECRET)
    return str(caught.value)


# --- valid tokens -----------------------------------------------------------------------------


def test_user_from_valid_token_has_sub_as_id_and_no_admin() -> None:
    assert user_from_token(token(), SECRET) == User(id=USER_ID, is_admin=False)


def test_user_from_token_with_service_role_is_admin() -> None:
    assert user_from_token(token(role="service_role"), SECRET) == User(USER_ID, is_admin=True)


def test_user_from_token_with_app_metadata_admin_role_is_admin() -> None:
    user = user_from_token(token(app_metadata={"provider": "email", "role": "admin"}), SECRET)

    assert user == User(USER_ID, is_admin=True)


def test_user_from_token_with_user_metadata_admin_role_is_not_admin() -> None:
    # user_metadata is editable by the user themself; only app_metadata is the provider's word.
    user = user_from_token(token(user_metadata={"role": "admin"}), SECRET)

    assert user.is_admin is False


def test_user_from_token_without_app_metadata_is_not_admin() -> None:
    assert user_from_token(token(app_metadata=None), SECRET).is_admin is False


def test_user_from_token_accepts_audience_list_containing_authenticated() -> None:
    user = user_from_token(token(aud=["other", "authenticated"]), SECRET)

    assert user.id == USER_ID


# --- refused tokens ---------------------------------------------------------------------------


def test_user_from_expired_token_raises_expired() -> None:
    now = int(time.time())

    assert refusal(token(exp=now - 60, iat=now - 3660)) == "token has expired"


def test_user_from_token_with_wrong_audience_raises_audience_message() -> None:
    assert refusal(token(aud="anon-service")) == "token audience must be 'authenticated'"


@pytest.mark.parametrize("claim", ["exp", "sub", "aud"])
def test_user_from_token_missing_claim_names_the_claim(claim: str) -> None:
    assert refusal(token(**{claim: None})) == f"token lacks the {claim!r} claim"


def test_user_from_token_signed_with_other_secret_is_not_valid() -> None:
    assert refusal(token(secret=OTHER_SECRET)) == "token is not valid"


def test_user_from_token_with_one_changed_claim_is_not_valid() -> None:
    header, _, signature = token().split(".")
    forged_payload = b64(claims(role="service_role"))

    assert refusal(f"{header}.{forged_payload}.{signature}") == "token is not valid"


def test_user_from_unsigned_alg_none_token_is_not_valid() -> None:
    unsigned = jwt.encode(claims(role="service_role"), key=None, algorithm="none")

    assert unsigned.endswith(".")  # really unsigned
    assert refusal(unsigned) == "token is not valid"


def test_user_from_token_labelled_rs256_is_not_valid() -> None:
    _, payload, signature = token().split(".")
    relabelled = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{payload}.{signature}"

    assert refusal(relabelled) == "token is not valid"


def test_user_from_token_signed_hs512_is_not_valid() -> None:
    hs512 = jwt.encode(claims(), SECRET, algorithm="HS512")

    assert refusal(hs512) == "token is not valid"


@pytest.mark.parametrize("garbage", ["garbage", "", "a.b.c", "eyJhbGciOi.x.y", "...."])
def test_user_from_garbage_token_is_not_valid(garbage: str) -> None:
    assert refusal(garbage) == "token is not valid"


def test_user_from_token_not_yet_valid_is_not_valid() -> None:
    assert refusal(token(nbf=int(time.time()) + 600)) == "token is not valid"


def test_user_from_token_with_numeric_sub_is_not_valid() -> None:
    assert refusal(token(sub=12345)) == "token is not valid"


# --- Authorization header ---------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, ""])
def test_bearer_token_without_header_is_none(header: str | None) -> None:
    assert bearer_token(header) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer abc", "abc"), ("BEARER  abc ", "abc")],
)
def test_bearer_token_returns_token_of_bearer_scheme(header: str, expected: str) -> None:
    assert bearer_token(header) == expected


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer   ", "abc.def.ghi"]
)
def test_bearer_token_with_wrong_scheme_or_no_token_raises(header: str) -> None:
    with pytest.raises(AuthError) as caught:
        bearer_token(header)

    assert str(caught.value) == "Authorization header must be 'Bearer <token>'"


def test_bearer_token_round_trips_into_user() -> None:
    assert user_from_token(bearer_token(f"Bearer {token()}") or "", SECRET).id == USER_ID


# --- who may see a session --------------------------------------------------------------------


def test_user_may_see_own_session_only() -> None:
    user = User(id=USER_ID)

    assert user.may_see(USER_ID) is True
    assert user.may_see("someone-else") is False
    assert user.may_see(None) is False


def test_admin_may_see_any_session_including_ownerless() -> None:
    admin = User(id="admin-1", is_admin=True)

    assert admin.may_see(USER_ID) is True
    assert admin.may_see(None) is True
