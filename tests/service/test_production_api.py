"""The service as production runs it, over real HTTP: ``emg serve`` subprocesses configured only
through environment variables (ENVIRONMENT=production), the real PostgreSQL and Redis, a local
storage directory the webhooks point at, httpx as the client. No TestClient, no mocks.

Three servers: a healthy one (most tests), one whose Redis is a dead port and one whose
PostgreSQL is a dead port. Each has its own PostgreSQL schema, so their workers never share
sessions. Every test makes its own users, patients and file contents, so none depends on another.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis

from tests.conftest import IN_CI, MALFORMED, REDIS_URL, sample, shared_files
from tests.utils.e2e import Server, free_port, running_server
from tests.utils.production import (
    PG_URL,
    access_token,
    bearer,
    json_log_lines,
    metric_type,
    metric_value,
    postgres_schema,
    storage_insert_event,
    synthetic_recording,
    webhook_signature,
)

T = TypeVar("T")

BUCKET = "c3d-examples"
FRONTEND = "https://app.example"
PARSER_WORKERS = 2
CACHE_TTL_S = 600
WAIT_S = 30.0  # longest wait for a webhook session or for readiness
# This run's secrets: long enough for HS256 (no key-length warnings), unique so the log test can
# look for them.
JWT_SECRET = f"jwt-secret-{uuid.uuid4().hex}{uuid.uuid4().hex}"
WEBHOOK_SECRET = f"webhook-secret-{uuid.uuid4().hex}{uuid.uuid4().hex}"
SIGNATURE_MESSAGE = "missing or wrong x-supabase-signature header"
AUTH_REQUIRED_MESSAGE = "authentication required: send 'Authorization: Bearer <token>'"
COUNTS_0409 = {"CH1": 15, "CH2": 11}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
TERMINAL = {"completed", "failed"}
LEAKS = ("Traceback", 'File "', "/work/", "/tmp/", "sqlalchemy", "psycopg", "redis.exceptions")


# --- servers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """A running production server, its storage directory and a client for it."""

    server: Server
    storage: Path
    client: httpx.Client

    def put(self, name: str, content: bytes) -> None:
        """An object lands in the watched bucket (what a frontend upload to storage does)."""
        path = self.storage / BUCKET / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def production_env(database_url: str, redis_url: str, storage: Path) -> dict[str, str]:
    return {
        "ENVIRONMENT": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "JWT_SECRET": JWT_SECRET,
        "SUPABASE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STORAGE_DIR": str(storage),
        "STORAGE_BUCKET": BUCKET,
        "CORS_ORIGINS": FRONTEND,
        "WORKER_POLL_INTERVAL": "0.2",
        "PARSER_TIMEOUT": "3",
        "PARSER_WORKERS": str(PARSER_WORKERS),
        "CACHE_TTL": str(CACHE_TTL_S),
    }


@contextmanager
def production_stack(
    folder: Path, *, redis_url: str, database_url: str | None = None
) -> Iterator[Stack]:
    """``emg serve`` in production mode; ``database_url`` None gets a fresh schema of the test
    PostgreSQL."""
    with ExitStack() as stack:
        if database_url is None:
            try:
                database_url = stack.enter_context(postgres_schema(PG_URL))
            except Exception as exc:
                unavailable(f"PostgreSQL at {PG_URL} unavailable ({type(exc).__name__}: {exc})")
        storage = folder / "storage"
        storage.mkdir()
        env = production_env(database_url, redis_url, storage)
        server = stack.enter_context(running_server(folder / "emg-serve.log", env))
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=60.0))
        yield Stack(server, storage, client)


@pytest.fixture(scope="module")
def live_redis() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        unavailable(f"Redis at {REDIS_URL} unavailable ({type(exc).__name__}: {exc})")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory, live_redis: str) -> Iterator[Stack]:
    with production_stack(tmp_path_factory.mktemp("prod"), redis_url=live_redis) as stack:
        yield stack


@pytest.fixture(scope="module")
def no_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with production_stack(tmp_path_factory.mktemp("no-redis"), redis_url=dead) as stack:
        yield stack


@pytest.fixture(scope="module")
def no_database(tmp_path_factory: pytest.TempPathFactory, live_redis: str) -> Iterator[Stack]:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/test"
    folder = tmp_path_factory.mktemp("no-database")
    with production_stack(folder, redis_url=live_redis, database_url=dead) as stack:
        yield stack


@pytest.fixture(scope="module")
def sample_0409() -> tuple[str, bytes]:
    path = sample("0409")
    return path.name, path.read_bytes()


# --- helpers -----------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def user(sub: str, **claims: Any) -> dict[str, str]:
    return bearer(access_token(JWT_SECRET, sub, **claims))


def admin() -> dict[str, str]:
    return user(new_id("ops"), role="service_role")


def poll(what: str, check: Callable[[], T | None], timeout_s: float = WAIT_S) -> T:
    """``check()`` until it returns something other than None, at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while (result := check()) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.1)
    return result


def post_event(
    client: httpx.Client,
    event: dict[str, Any] | bytes,
    *,
    prefix: str = "",
    signature: str | None = None,
    signed: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a storage event as the database webhook does: raw JSON body, hex HMAC signature."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    sent = {"content-type": "application/json", **(headers or {})}
    if signature is None:
        signature = prefix + webhook_signature(body, WEBHOOK_SECRET)
    if signed:
        sent["x-supabase-signature"] = signature
    return client.post("/webhooks/storage", content=body, headers=sent)


def accepted_session(response: httpx.Response, *, created: bool = True) -> str:
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "accepted", answer
    assert answer["created"] is created, answer
    assert answer["reason"] is None, answer
    return str(uuid.UUID(answer["session_id"]))


def wait_for_session(client: httpx.Client, session_id: str, headers: dict[str, str]) -> dict:
    """The session once it is completed or failed."""

    def finished() -> dict | None:
        response = client.get(f"/sessions/{session_id}", headers=headers)
        assert response.status_code == 200, response.text
        session = response.json()
        return session if session["status"] in TERMINAL else None

    return poll(f"session {session_id} finished", finished)


def sessions_page(client: httpx.Client, headers: dict[str, str], **params: Any) -> dict:
    response = client.get("/sessions", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def upload(
    client: httpx.Client,
    filename: str,
    content: bytes,
    headers: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> httpx.Response:
    files = {"file": (filename, content, "application/octet-stream")}
    return client.post("/upload", files=files, data=form or {}, headers=headers or {})


def counts(report: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: c["contractions"]["count"] for c in report["channels"]}


def assert_no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, text


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> str:
    """The one error shape, this status and code, a one-line message with the fragments, the
    response's own request id in the body, nothing internal; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, body
    message = error["message"]
    assert isinstance(message, str) and message.strip() and "\n" not in message, body
    for fragment in fragments:
        assert fragment in message, body
    assert error["request_id"] == response.headers["x-request-id"], (body, response.headers)
    assert_no_leak(response.text)
    return message


def ready(client: httpx.Client) -> dict[str, Any]:
    """Wait until /health/readiness says ready (the parser pool starts in the background)."""

    def answer() -> dict | None:
        response = client.get("/health/readiness")
        return response.json() if response.status_code == 200 else None

    return poll("readiness", answer)


def metrics_text(client: httpx.Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


# --- health and docs ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/health/liveness"])
def test_liveness_endpoints_answer_ok(prod: Stack, path: str) -> None:
    response = prod.client.get(path)

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}


def test_readiness_is_ready_once_database_and_parser_are_up(prod: Stack) -> None:
    assert ready(prod.client) == {"status": "ready", "reasons": [], "cache": "ok"}


def test_detailed_health_shows_each_dependency_with_latency_version_and_environment(
    prod: Stack,
) -> None:
    ready(prod.client)

    response = prod.client.get("/health/detailed")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok", body
    assert body["version"] == version("emg-analyzer")
    assert body["environment"] == "production"
    checks = body["checks"]
    for name in ("database", "cache"):
        assert checks[name]["status"] == "ok", checks
        latency = checks[name]["latency_ms"]
        assert isinstance(latency, int | float) and 0 <= latency < 2000, checks
    assert checks["parser"]["status"] == "ok", checks
    assert checks["parser"]["workers"] == PARSER_WORKERS, checks
    assert REDIS_URL not in response.text and "postgresql" not in response.text


def test_detailed_health_reports_the_parser_latency(prod: Stack) -> None:
    ready(prod.client)

    parser = prod.client.get("/health/detailed").json()["checks"]["parser"]

    assert parser["status"] == "ok", parser
    assert "latency_ms" in parser, parser


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_are_off_in_production(prod: Stack, path: str) -> None:
    assert_error(prod.client.get(path), 404, "http_error", "Not Found")


# --- storage webhooks --------------------------------------------------------------------------


def test_webhook_recording_is_analysed_in_the_background_end_to_end(
    prod: Stack, sample_0409: tuple[str, bytes]
) -> None:
    file_name, content = sample_0409
    owner, patient = new_id("therapist"), new_id("patient")
    name = f"{patient}/{file_name}"
    prod.put(name, content)
    event = storage_insert_event(name, bucket=BUCKET, owner_id=owner, size=len(content))
    headers = user(owner)

    started = time.monotonic()
    response = post_event(prod.client, event)  # plain hex signature
    answered_s = time.monotonic() - started

    session_id = accepted_session(response)
    assert answered_s < 2.0  # answered at once; the analysis runs in the background
    session = wait_for_session(prod.client, session_id, headers)
    assert session["status"] == "completed", session
    assert session["failure_reason"] is None
    assert session["patient_id"] == patient
    assert session["file_name"] == file_name
    assert session["file_size"] == len(content)
    assert session["file_hash"] == hashlib.sha256(content).hexdigest()
    assert session["recording"]["duration_s"] == pytest.approx(75.03, abs=0.005)
    assert session["attempts"] == 1
    assert session["started_at"] and session["completed_at"]
    assert session["processing_ms"] > 0

    report = prod.client.get(f"/sessions/{session_id}/report", headers=headers)

    assert report.status_code == 200, report.text
    assert counts(report.json()) == COUNTS_0409
    assert report.json()["source"]["sha256"] == session["file_hash"]

    # The database sends the same event again (a retry): same session, nothing new.
    again = post_event(prod.client, event, prefix="sha256=")

    assert accepted_session(again, created=False) == session_id
    page = sessions_page(prod.client, headers, patient_id=patient)
    assert page["total"] == 1, page
    assert [(s["id"], s["status"]) for s in page["items"]] == [(session_id, "completed")]


def test_webhook_same_content_under_another_name_keeps_one_session(prod: Stack) -> None:
    content = sample("0160").read_bytes()
    owner, patient = new_id("therapist"), new_id("patient")
    headers = user(owner)
    names = [f"{patient}/first.c3d", f"{patient}/copy-of-first.c3d"]
    for name in names:
        prod.put(name, content)
    events = [
        storage_insert_event(n, bucket=BUCKET, owner_id=owner, size=len(content)) for n in names
    ]
    first = accepted_session(post_event(prod.client, events[0]))
    assert wait_for_session(prod.client, first, headers)["status"] == "completed"

    second = accepted_session(post_event(prod.client, events[1], prefix="sha256="))

    def settled() -> bool | None:
        response = prod.client.get(f"/sessions/{second}", headers=headers)
        if response.status_code == 404:
            return True
        assert response.status_code == 200, response.text
        return True if response.json()["status"] in TERMINAL else None

    poll(f"duplicate session {second} settled", settled)
    page = sessions_page(prod.client, admin(), patient_id=patient)
    assert page["total"] == 1, page
    assert [s["id"] for s in page["items"]] == [first]
    assert page["items"][0]["file_hash"] == hashlib.sha256(content).hexdigest()


BAD_SIGNATURES: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "missing": lambda body: {"signed": False},
    "empty": lambda body: {"signature": ""},
    "wrong-secret": lambda body: {"signature": webhook_signature(body, "not-the-secret" * 4)},
    "prefixed-wrong-secret": lambda body: {
        "signature": "sha256=" + webhook_signature(body, "not-the-secret" * 4)
    },
    "other-body": lambda body: {"signature": webhook_signature(body + b" ", WEBHOOK_SECRET)},
    "not-hex": lambda body: {"signature": "sha256=" + "z" * 64},
}


@pytest.mark.parametrize("case", BAD_SIGNATURES)
def test_webhook_without_a_valid_signature_is_refused_and_creates_nothing(
    prod: Stack, case: str
) -> None:
    owner, patient = new_id("therapist"), new_id("patient")
    name = f"{patient}/session.c3d"
    prod.put(name, b"C3D recording bytes")
    event = storage_insert_event(name, bucket=BUCKET, owner_id=owner, size=19)
    body = json.dumps(event).encode()

    response = post_event(prod.client, body, **BAD_SIGNATURES[case](body))

    assert_error(response, 401, "bad_signature", SIGNATURE_MESSAGE)
    assert sessions_page(prod.client, admin(), patient_id=patient)["total"] == 0


@pytest.mark.parametrize(
    ("bucket", "file_name", "event_type", "reason"),
    [
        ("avatars", "session.c3d", "INSERT", "bucket 'avatars' is not watched"),
        (BUCKET, "notes.csv", "INSERT", "not a .c3d recording"),
        (BUCKET, "session.c3d.json", "INSERT", "not a .c3d recording"),
        (BUCKET, "session.c3d", "UPDATE", "only INSERT events on storage objects count"),
    ],
    ids=["other-bucket", "csv", "c3d-in-the-middle", "update-event"],
)
def test_webhook_for_other_buckets_files_or_events_is_ignored_with_a_reason(
    prod: Stack, bucket: str, file_name: str, event_type: str, reason: str
) -> None:
    owner, patient = new_id("therapist"), new_id("patient")
    name = f"{patient}/{file_name}"
    event = storage_insert_event(
        name, bucket=bucket, owner_id=owner, size=100, event_type=event_type
    )

    response = post_event(prod.client, event)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "ignored", answer
    assert reason in answer["reason"], answer
    assert answer["session_id"] is None, answer
    assert sessions_page(prod.client, admin(), patient_id=patient)["total"] == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b'{"type": "INSERT", "table": ', "Invalid JSON"), (b'{"table": "objects"}', "type")],
    ids=["not-json", "no-type"],
)
def test_signed_webhook_that_is_not_a_storage_event_is_refused(
    prod: Stack, body: bytes, fragment: str
) -> None:
    assert_error(post_event(prod.client, body), 422, "invalid_event", fragment)


def test_webhook_of_a_malformed_file_fails_the_session_with_a_readable_reason(prod: Stack) -> None:
    malformed = shared_files(MALFORMED, "segv_header_a.c3d")[0].read_bytes()
    owner, patient = new_id("therapist"), new_id("patient")
    name = f"{patient}/broken.c3d"
    prod.put(name, malformed)
    headers = user(owner)
    event = storage_insert_event(name, bucket=BUCKET, owner_id=owner, size=len(malformed))

    session_id = accepted_session(post_event(prod.client, event))
    session = wait_for_session(prod.client, session_id, headers)

    assert session["status"] == "failed", session
    reason = session["failure_reason"]
    assert reason.startswith("the recording cannot be analysed: "), reason
    assert "file is truncated" in reason and "\n" not in reason, reason
    assert_no_leak(reason)
    assert session["completed_at"], session

    report = prod.client.get(f"/sessions/{session_id}/report", headers=headers)

    assert_error(
        report, 409, "report_not_ready", "session is failed: the recording cannot be analysed"
    )


def test_webhook_of_a_missing_object_fails_the_session_with_the_reason(prod: Stack) -> None:
    owner, patient = new_id("therapist"), new_id("patient")
    name = f"{patient}/never-uploaded.c3d"
    event = storage_insert_event(name, bucket=BUCKET, owner_id=owner, size=1000)

    session_id = accepted_session(post_event(prod.client, event))
    session = wait_for_session(prod.client, session_id, user(owner))

    assert session["status"] == "failed", session
    assert (
        session["failure_reason"] == f"cannot fetch the recording: object {BUCKET}/{name} not found"
    )


# --- authentication ----------------------------------------------------------------------------

ANY_SESSION = "3f0c6a52-0d7e-4f53-9d0a-2b8f1f3c9a11"
PROTECTED = {
    "list-sessions": ("GET", "/sessions"),
    "one-session": ("GET", f"/sessions/{ANY_SESSION}"),
    "report": ("GET", f"/sessions/{ANY_SESSION}/report"),
    "upload": ("POST", "/upload"),
}


def call(client: httpx.Client, route: str, headers: dict[str, str]) -> httpx.Response:
    method, path = PROTECTED[route]
    if method == "POST":
        return upload(client, "session.c3d", b"not analysed: refused first", headers)
    return client.get(path, headers=headers)


@pytest.mark.parametrize("route", PROTECTED)
def test_protected_routes_without_a_token_get_401_with_a_bearer_challenge(
    prod: Stack, route: str
) -> None:
    response = call(prod.client, route, {})

    assert_error(response, 401, "unauthorized", AUTH_REQUIRED_MESSAGE)
    assert response.headers["www-authenticate"] == "Bearer"


BAD_TOKENS: dict[str, tuple[Callable[[], dict[str, str]], str]] = {
    "expired": (
        lambda: user("someone", expires_in_s=-60),
        "token has expired",
    ),
    "wrong-audience": (
        lambda: user("someone", audience="anon"),
        "token audience must be 'authenticated'",
    ),
    "no-audience": (lambda: user("someone", audience=None), "token lacks the 'aud' claim"),
    "no-expiry": (lambda: user("someone", expires_in_s=None), "token lacks the 'exp' claim"),
    "wrong-secret": (
        lambda: bearer(access_token(f"other-{JWT_SECRET}", "someone")),
        "token is not valid",
    ),
    "unsigned": (
        lambda: bearer(access_token("", "someone", algorithm="none", role="service_role")),
        "token is not valid",
    ),
    "garbage": (lambda: bearer("not.a.jwt"), "token is not valid"),
    "basic-scheme": (
        lambda: {"Authorization": "Basic dGhlcmFwaXN0OnNlY3JldA=="},
        "Authorization header must be 'Bearer <token>'",
    ),
}


@pytest.mark.parametrize("route", ["list-sessions", "upload"])
@pytest.mark.parametrize("case", BAD_TOKENS)
def test_invalid_tokens_get_401(prod: Stack, case: str, route: str) -> None:
    headers, message = BAD_TOKENS[case]

    response = call(prod.client, route, headers())

    assert_error(response, 401, "unauthorized", message)
    assert response.headers["www-authenticate"] == "Bearer"


def test_another_users_session_is_forbidden_and_an_admin_sees_everything(prod: Stack) -> None:
    alice, bob, patient = new_id("alice"), new_id("bob"), new_id("patient")
    owned = storage_insert_event(f"{patient}/a.c3d", bucket=BUCKET, owner_id=alice, size=10)
    unowned = storage_insert_event(f"{patient}/b.c3d", bucket=BUCKET, owner_id=None, size=10)
    alices = accepted_session(post_event(prod.client, owned))
    nobodys = accepted_session(post_event(prod.client, unowned))

    for path in (f"/sessions/{alices}", f"/sessions/{alices}/report"):
        response = prod.client.get(path, headers=user(bob))
        assert_error(response, 403, "forbidden", "this session belongs to another user")
    assert_error(
        prod.client.get(f"/sessions/{nobodys}", headers=user(alice)),
        403,
        "forbidden",
        "this session belongs to another user",
    )
    assert prod.client.get(f"/sessions/{alices}", headers=user(alice)).status_code == 200
    assert sessions_page(prod.client, user(bob), patient_id=patient)["total"] == 0
    alices_page = sessions_page(prod.client, user(alice), patient_id=patient)
    assert [s["id"] for s in alices_page["items"]] == [alices]

    operator = admin()
    for session_id in (alices, nobodys):
        response = prod.client.get(f"/sessions/{session_id}", headers=operator)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == session_id
    page = sessions_page(prod.client, operator, patient_id=patient)
    assert page["total"] == 2
    assert {s["id"] for s in page["items"]} == {alices, nobodys}


def test_session_list_paginates_filters_by_patient_and_shows_only_own_sessions(
    prod: Stack,
) -> None:
    me, other = new_id("therapist"), new_id("therapist")
    p1, p2 = new_id("patient"), new_id("patient")
    mine = []
    for i, patient in enumerate([p1, p1, p2, p1, p2]):
        event = storage_insert_event(f"{patient}/s{i}.c3d", bucket=BUCKET, owner_id=me, size=10)
        mine.append(accepted_session(post_event(prod.client, event)))
    event = storage_insert_event(f"{p1}/other.c3d", bucket=BUCKET, owner_id=other, size=10)
    others = accepted_session(post_event(prod.client, event))
    newest_first = mine[::-1]

    pages = [sessions_page(prod.client, user(me), limit=2, offset=o) for o in (0, 2, 4, 6)]

    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [(p["limit"], p["offset"]) for p in pages] == [(2, 0), (2, 2), (2, 4), (2, 6)]
    assert [[s["id"] for s in p["items"]] for p in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
        [],
    ]
    by_patient = sessions_page(prod.client, user(me), patient_id=p1)
    assert by_patient["total"] == 3
    assert [s["id"] for s in by_patient["items"]] == [mine[3], mine[1], mine[0]]
    assert all(s["patient_id"] == p1 for s in by_patient["items"])
    assert sessions_page(prod.client, user(me), patient_id=p2)["total"] == 2
    theirs = sessions_page(prod.client, user(other))
    assert (theirs["total"], [s["id"] for s in theirs["items"]]) == (1, [others])
    assert sessions_page(prod.client, admin(), patient_id=p1)["total"] == 4


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({"limit": 201}, "limit: Input should be less than or equal to 200"),
        ({"offset": -1}, "offset: Input should be greater than or equal to 0"),
    ],
    ids=["limit-0", "limit-201", "offset-negative"],
)
def test_session_list_refuses_bad_paging(
    prod: Stack, params: dict[str, int], fragment: str
) -> None:
    response = prod.client.get("/sessions", params=params, headers=admin())

    assert_error(response, 422, "invalid_request", fragment)


def test_unknown_or_malformed_session_id(prod: Stack) -> None:
    unknown = str(uuid.uuid4())

    assert_error(
        prod.client.get(f"/sessions/{unknown}", headers=admin()),
        404,
        "not_found",
        f"session {unknown} not found",
    )
    assert_error(
        prod.client.get("/sessions/not-a-session/report", headers=admin()),
        422,
        "invalid_request",
        "session_id",
    )


# --- report cache ------------------------------------------------------------------------------


def test_same_upload_twice_is_a_cache_hit_with_the_same_report_other_parameters_miss(
    prod: Stack, tmp_path: Path
) -> None:
    seed = uuid.uuid4().int % 2**32
    path = synthetic_recording(tmp_path / f"cache-{seed}.c3d", seed=seed)
    content = path.read_bytes()
    keys = f"emg:report:v1:{hashlib.sha256(content).hexdigest()}:*"
    store = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    headers = user(new_id("therapist"))

    def step(form: dict[str, str] | None = None) -> tuple[httpx.Response, float, float, list]:
        """One upload: its response, the change in cache hits and misses, the stored keys."""
        before = metrics_text(prod.client)
        response = upload(prod.client, path.name, content, headers, form)
        after = metrics_text(prod.client)
        assert response.status_code == 200, response.text
        hits, misses = (
            metric_value(after, "emg_cache_requests_total", result=r)
            - metric_value(before, "emg_cache_requests_total", result=r)
            for r in ("hit", "miss")
        )
        return response, hits, misses, list(store.scan_iter(keys))

    try:
        first, hits, misses, stored = step()

        assert (hits, misses) == (0, 1)
        assert len(stored) == 1, stored
        assert 0 < store.ttl(stored[0]) <= CACHE_TTL_S
        assert counts(first.json()) == {"CH1": 4, "CH2": 4}
        assert first.json()["parameters"]["rpe"] is None

        second, hits, misses, stored_again = step()

        assert (hits, misses) == (1, 0)
        assert stored_again == stored
        assert second.json() == first.json()

        other, hits, misses, stored_now = step({"rpe": "5"})

        assert (hits, misses) == (0, 1)
        assert len(stored_now) == 2, stored_now
        assert other.json()["parameters"]["rpe"] == 5
    finally:
        for key in store.scan_iter(keys):
            store.delete(key)
        store.close()


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_and_time_processing(
    prod: Stack, sample_0409: tuple[str, bytes]
) -> None:
    operator = admin()
    event = storage_insert_event(
        f"{new_id('patient')}/m.c3d", bucket=BUCKET, owner_id=None, size=10
    )
    session_id = accepted_session(post_event(prod.client, event))
    unknown = str(uuid.uuid4())
    route = "/sessions/{session_id}"
    before = metrics_text(prod.client)

    assert prod.client.get(f"/sessions/{session_id}", headers=operator).status_code == 200
    assert prod.client.get(f"/sessions/{unknown}", headers=operator).status_code == 404
    _, content = sample_0409
    assert upload(prod.client, f"metrics-{uuid.uuid4().hex}.c3d", content, operator).is_success
    response = prod.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = response.text

    def delta(sample_name: str, **labels: str) -> float:
        return metric_value(after, sample_name, **labels) - metric_value(
            before, sample_name, **labels
        )

    requests = "emg_http_requests_total"
    assert delta(requests, method="GET", route=route, status="200") == 1
    assert delta(requests, method="GET", route=route, status="404") == 1
    assert delta(requests, method="POST", route="/upload", status="200") == 1
    assert delta("emg_http_request_duration_seconds_count", method="GET", route=route) == 2
    assert metric_value(
        after, "emg_http_request_duration_seconds_bucket", method="GET", route=route, le="+Inf"
    ) == metric_value(after, "emg_http_request_duration_seconds_count", method="GET", route=route)
    processing = "emg_processing_duration_seconds_count"
    assert delta(processing, source="upload", outcome="completed") == 1
    assert metric_value(after, "emg_processing_duration_seconds_sum", source="upload") > 0
    assert metric_type(after, "emg_sessions_in_flight") == "gauge"
    assert metric_value(after, "emg_sessions_in_flight") >= 0
    # Route templates only: no raw ids (and so no unbounded label values).
    assert session_id not in after and unknown not in after
    routes = set(re.findall(r'route="([^"]*)"', after))
    assert route in routes, routes
    assert all(r == "unmatched" or not re.search(r"[0-9a-f]{8}-", r) for r in routes), routes


# --- request ids and errors --------------------------------------------------------------------


def test_every_response_carries_its_own_request_id(prod: Stack) -> None:
    preflight = {"Origin": FRONTEND, "Access-Control-Request-Method": "POST"}
    responses = [
        prod.client.get("/health"),
        prod.client.get("/metrics"),
        prod.client.get("/sessions"),
        prod.client.get("/sessions", headers=admin()),
        prod.client.get("/nowhere"),
        prod.client.get("/upload"),
        prod.client.options("/upload", headers=preflight),
        post_event(prod.client, b"{}", signed=False),
        upload(prod.client, "notes.txt", b"text", admin()),
    ]

    assert [r.status_code for r in responses] == [200, 200, 401, 200, 404, 405, 200, 401, 415]
    ids = [r.headers.get("x-request-id", "") for r in responses]
    assert all(GENERATED_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    for response in responses:
        if response.status_code >= 400:
            assert response.json()["error"]["request_id"] == response.headers["x-request-id"]
            assert_no_leak(response.text)


def test_valid_incoming_request_id_is_echoed_in_header_and_error_body(prod: Stack) -> None:
    rid = f"trace-{uuid.uuid4().hex}.1_A"
    unknown = str(uuid.uuid4())

    ok = prod.client.get("/health", headers={"X-Request-ID": rid})
    missing = prod.client.get(f"/sessions/{unknown}", headers={"X-Request-ID": rid, **admin()})

    assert ok.headers["x-request-id"] == rid
    assert missing.headers["x-request-id"] == rid
    assert_error(missing, 404, "not_found", f"session {unknown} not found")
    assert missing.json()["error"]["request_id"] == rid


@pytest.mark.parametrize(
    "incoming",
    [b"has spaces in it", b"x" * 65, b"../../etc", "r\u00e9sum\u00e9".encode(), b""],
    ids=["spaces", "too-long", "slashes", "non-ascii", "empty"],
)
def test_invalid_incoming_request_id_is_replaced(prod: Stack, incoming: bytes) -> None:
    response = prod.client.get("/sessions", headers={"X-Request-ID": incoming})

    assert_error(response, 401, "unauthorized", AUTH_REQUIRED_MESSAGE)
    rid = response.headers["x-request-id"]
    assert GENERATED_ID.match(rid), rid


# --- CORS and compression ----------------------------------------------------------------------


def test_cors_allows_the_frontend_origin_only(prod: Stack) -> None:
    request_headers = "authorization,content-type,x-request-id"

    def preflight(origin: str) -> httpx.Response:
        return prod.client.options(
            "/upload",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": request_headers,
            },
        )

    allowed = preflight(FRONTEND)
    refused = preflight("https://evil.example")
    simple_allowed = prod.client.get("/health", headers={"Origin": FRONTEND})
    simple_refused = prod.client.get("/health", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == FRONTEND
    assert "POST" in allowed.headers["access-control-allow-methods"]
    allowed_headers = allowed.headers["access-control-allow-headers"].lower()
    assert all(h in allowed_headers for h in request_headers.split(","))
    assert refused.status_code == 400, refused.text
    assert "access-control-allow-origin" not in refused.headers
    assert simple_allowed.headers["access-control-allow-origin"] == FRONTEND
    assert "x-request-id" in simple_allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in simple_refused.headers


def test_refused_cors_preflight_uses_the_json_error_shape(prod: Stack) -> None:
    response = prod.client.options(
        "/upload",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == 400, response.text
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["content-type"].startswith("application/json"), (
        response.headers["content-type"],
        response.text,
    )
    assert_error(response, 400, response.json()["error"]["code"], "origin")


def test_large_json_response_is_gzip_encoded_when_accepted(
    prod: Stack, sample_0409: tuple[str, bytes]
) -> None:
    _, content = sample_0409
    files = {"file": (f"gzip-{uuid.uuid4().hex}.c3d", content, "application/octet-stream")}
    headers = {"Accept-Encoding": "gzip", **admin()}

    with prod.client.stream("POST", "/upload", files=files, headers=headers) as response:
        raw = b"".join(response.iter_raw())
    plain = prod.client.post(
        "/upload", files=files, headers={**headers, "Accept-Encoding": "identity"}
    )

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    report = json.loads(gzip.decompress(raw))
    assert counts(report) == COUNTS_0409
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert len(raw) < len(plain.content) / 2
    assert plain.json() == report


# --- Redis down: degraded, never failing -------------------------------------------------------


def test_dead_redis_degrades_detailed_health_but_uploads_succeed_uncached(
    no_redis: Stack, sample_0409: tuple[str, bytes]
) -> None:
    assert ready(no_redis.client)["status"] == "ready"  # the cache is not needed for traffic
    _, content = sample_0409
    headers = user(new_id("therapist"))
    name = f"uncached-{uuid.uuid4().hex}.c3d"
    before = metrics_text(no_redis.client)

    responses = [upload(no_redis.client, name, content, headers) for _ in range(2)]
    detailed = no_redis.client.get("/health/detailed")

    for response in responses:
        assert response.status_code == 200, response.text
        assert counts(response.json()) == COUNTS_0409
    after = metrics_text(no_redis.client)
    assert metric_value(after, "emg_cache_requests_total", result="hit") == 0
    misses = [metric_value(t, "emg_cache_requests_total", result="miss") for t in (before, after)]
    assert misses[1] - misses[0] == 2
    assert detailed.status_code == 200, detailed.text
    body = detailed.json()
    assert body["status"] == "degraded", body
    cache = body["checks"]["cache"]
    assert cache["status"] == "degraded", cache
    assert cache["latency_ms"] is None
    assert cache["detail"].startswith("cannot connect to Redis"), cache
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["parser"]["status"] == "ok"


def test_dead_redis_keeps_upload_latency_normal(
    prod: Stack, no_redis: Stack, sample_0409: tuple[str, bytes]
) -> None:
    _, content = sample_0409
    headers = user(new_id("therapist"))

    def seconds(stack: Stack) -> float:
        # A name of its own each time: a cache miss on both servers, so both do the same work.
        started = time.perf_counter()
        response = upload(stack.client, f"latency-{uuid.uuid4().hex}.c3d", content, headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        return elapsed

    for stack in (prod, no_redis):  # warm: parser pool up, science imported
        seconds(stack)
    healthy, degraded = [], []
    for _ in range(5):
        healthy.append(seconds(prod))
        degraded.append(seconds(no_redis))

    assert statistics.median(degraded) <= 2 * statistics.median(healthy) + 0.1, (
        healthy,
        degraded,
    )


# --- PostgreSQL down: not ready, still alive, uploads still served -----------------------------


def test_dead_database_fails_readiness_naming_it_but_liveness_and_uploads_work(
    no_database: Stack, sample_0409: tuple[str, bytes]
) -> None:
    _, content = sample_0409

    readiness = no_database.client.get("/health/readiness")
    liveness = [no_database.client.get(p) for p in ("/health", "/health/liveness")]
    detailed = no_database.client.get("/health/detailed")
    uploaded = upload(no_database.client, "recording.c3d", content, user(new_id("therapist")))

    assert readiness.status_code == 503, readiness.text
    body = readiness.json()
    assert body["status"] == "not_ready", body
    assert "database: down" in body["reasons"], body
    for response in liveness:
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert detailed.status_code == 200, detailed.text
    assert detailed.json()["status"] == "unavailable"
    assert detailed.json()["checks"]["database"]["status"] == "down"
    assert_no_leak(detailed.text)
    assert uploaded.status_code == 200, uploaded.text
    assert counts(uploaded.json()) == COUNTS_0409


def test_server_error_carries_the_request_id(no_database: Stack) -> None:
    # A connection of its own: uvicorn closes the connection after a 500.
    with httpx.Client(base_url=no_database.server.url, timeout=30.0) as client:
        response = client.get("/sessions", headers=user(new_id("therapist")))

    assert response.status_code in (500, 503), response.text
    assert isinstance(response.json()["error"]["code"], str), response.text
    assert_no_leak(response.text)
    assert "x-request-id" in response.headers, response.headers
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


def test_metrics_are_served_while_the_database_is_down(no_database: Stack) -> None:
    with httpx.Client(base_url=no_database.server.url, timeout=30.0) as client:
        response = client.get("/metrics")

    assert response.status_code == 200, response.text
    assert "emg_http_requests_total" in response.text


# --- logs (last: also checks what every earlier test made the server log) ----------------------


def test_logs_are_json_lines_without_patient_data_or_secrets(
    prod: Stack, sample_0409: tuple[str, bytes], tmp_path: Path
) -> None:
    marker = f"PATIENT_MARKER_{uuid.uuid4().hex[:8].upper()}"
    recording = synthetic_recording(
        tmp_path / f"{marker}_session.c3d", seed=uuid.uuid4().int % 2**32, player_name=marker
    )
    content = recording.read_bytes()
    sample_name, sample_content = sample_0409
    owner = new_id("therapist")
    token = access_token(JWT_SECRET, owner)
    headers = bearer(token)
    rid = {k: f"log-{k}-{uuid.uuid4().hex}" for k in ("upload", "sample", "type", "hook", "bad")}

    def traced(key: str) -> dict[str, str]:
        return {**headers, "X-Request-ID": rid[key]}

    analysed = upload(prod.client, recording.name, content, traced("upload"))
    assert analysed.status_code == 200, analysed.text
    assert analysed.json()["recording"]["player_name"] == marker  # the marker reached the report
    assert upload(prod.client, sample_name, sample_content, traced("sample")).status_code == 200
    refused = upload(prod.client, f"{marker}.txt", content, traced("type"))
    assert_error(refused, 415, "unsupported_file_type", marker)  # the user sees it; logs do not
    name = f"{marker}/{recording.name}"
    prod.put(name, content)
    event = storage_insert_event(name, bucket=BUCKET, owner_id=owner, size=len(content))
    hook = post_event(prod.client, event, headers={"X-Request-ID": rid["hook"]})
    session = wait_for_session(prod.client, accepted_session(hook), headers)
    assert session["status"] == "completed", session
    assert session["recording"]["player_name"] == marker
    bad = prod.client.get(
        "/sessions", headers={**traced("bad"), "Authorization": f"Bearer {token}x"}
    )
    assert bad.status_code == 401
    time.sleep(0.3)  # the worker's last lines

    log = prod.server.log()
    entries = json_log_lines(log)

    access_entries = [e for e in entries if e.get("logger") == "service.access"]
    for entry in access_entries:
        assert {"request_id", "method", "route", "status", "duration_ms"} <= set(entry), entry
    access = {e["request_id"]: e for e in access_entries}
    expected = {
        "upload": ("POST", "/upload", 200),
        "sample": ("POST", "/upload", 200),
        "type": ("POST", "/upload", 415),
        "hook": ("POST", "/webhooks/storage", 202),
        "bad": ("GET", "/sessions", 401),
    }
    for key, (method, route, status) in expected.items():
        entry = access[rid[key]]
        assert (entry["method"], entry["route"], entry["status"]) == (method, route, status), entry
        assert isinstance(entry["duration_ms"], int | float) and entry["duration_ms"] >= 0
    forbidden = {
        "marker (file, folder and player name)": marker,
        "sample file name": Path(sample_name).stem,
        "JWT secret": JWT_SECRET,
        "webhook secret": WEBHOOK_SECRET,
        "a bearer token": token,
        "any JWT": "eyJ",
    }
    for what, text in forbidden.items():
        assert text not in log, f"the server log contains the {what}"
