"""Redis cache of analysis reports: an accelerator, never a dependency for correctness.

Every failure (Redis down, slow, dropped connection, refused credentials, untrusted certificate)
is a cache miss for the caller, never an exception: the report is then computed again. So that a
dead Redis does not add its timeout to every request, a circuit breaker skips Redis for
``retry_after_s`` after a failure and then lets one call probe it again.

The Redis URL carries the password: it never appears in logs, exceptions, ``repr`` or the status
detail (the detail is built from the kind of failure, not from redis-py's messages, which name
the host).
"""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import redis
from redis.backoff import NoBackoff
from redis.connection import ConnectionPool, SSLConnection, parse_url
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoPermissionError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

logger = logging.getLogger(__name__)

KEY_PREFIX = "emg:report:v1"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class CacheStatus:
    """What /health/detailed reports about the cache."""

    state: Literal["ok", "degraded", "disabled"]
    latency_ms: float | None
    detail: str | None  # why degraded; never contains the URL or the password


class ReportCache:
    """Reports by recording content and analysis parameters, with a TTL.

    Parameters
    ----------
    url
        ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL; ``None`` disables the cache.
    ttl_s
        Lifetime of a stored report, seconds.
    timeout_s
        Socket connect and read timeout: the longest one call waits for Redis.
    ca_cert
        CA that signed the server certificate for ``rediss://``, as PEM text or a file path.
        The certificate and host name are always verified (URL options cannot turn that off).
    retry_after_s
        How long the circuit breaker skips Redis after a failure.

    Safe to share between threads: redis-py's pool hands each call its own connection.
    A malformed URL or CA certificate raises ``ValueError`` here, at start-up, so that a
    configuration mistake is seen at deployment rather than as a cache that never works.

    Examples
    --------
    >>> cache = ReportCache(None, ttl_s=60)
    >>> cache.get(ReportCache.key("0" * 64, "{}")) is None
    True
    >>> cache.status().state
    'disabled'
    """

    def __init__(
        self,
        url: str | None,
        *,
        ttl_s: int,
        timeout_s: float = 0.05,
        ca_cert: str | None = None,
        retry_after_s: float = 5.0,
    ) -> None:
        if ttl_s < 1:
            raise ValueError(f"{ttl_s=} must be >= 1")
        if not timeout_s > 0:
            raise ValueError(f"{timeout_s=} must be > 0")
        if not retry_after_s >= 0:
            raise ValueError(f"{retry_after_s=} must be >= 0")
        self._ttl_s = int(ttl_s)
        self._timeout_s = float(timeout_s)
        self._retry_after_s = float(retry_after_s)
        self._lock = threading.Lock()
        self._failure: str | None = None  # breaker open (or probing) while set
        self._retry_at = 0.0  # time.monotonic() after which one call may probe Redis
        self._closed = False
        self._client: redis.Redis | None = None
        if url is not None:
            pool, secrets = _connection_pool(url, timeout_s=self._timeout_s, ca_cert=ca_cert)
            self._secrets = secrets
            self._client = redis.Redis(connection_pool=pool)
        else:
            self._secrets = ()

    @property
    def enabled(self) -> bool:
        """Configured with a Redis URL (whether or not Redis answers right now)."""
        return self._client is not None

    def __repr__(self) -> str:
        state = "disabled" if self._client is None else "degraded" if self._failure else "ok"
        return f"ReportCache({state}, ttl_s={self._ttl_s}, timeout_s={self._timeout_s:g})"

    @staticmethod
    def key(file_hash: str, parameters_json: str) -> str:
        """``emg:report:v1:<file sha256>:<sha256 of the parameters text>``.

        The parameters text is hashed exactly as given (pass a canonical form, such as
        pydantic's ``model_dump_json()``), not embedded, so keys stay short and carry no user
        text; ``v1`` changes when the report format does, so old entries are never served.
        """
        file_hash = file_hash.lower()
        if not _SHA256_HEX.fullmatch(file_hash):
            raise ValueError(f"{file_hash=} must be the 64-character hex SHA-256 of the file")
        parameters_hash = hashlib.sha256(parameters_json.encode()).hexdigest()
        return f"{KEY_PREFIX}:{file_hash}:{parameters_hash}"

    def get(self, key: str) -> bytes | None:
        """The cached report, or ``None`` on a miss or any Redis problem (never raises)."""
        client = self._client_to_use()
        if client is None:
            return None
        try:
            value: Any = client.get(key)
        except Exception as exc:  # any failure is a miss: the caller computes the report
            self._failed(exc)
            return None
        self._succeeded()
        return value

    def set(self, key: str, value: bytes) -> None:
        """Store a report for ``ttl_s`` seconds; a Redis problem is logged, never raised."""
        client = self._client_to_use()
        if client is None:
            return
        try:
            client.set(key, value, ex=self._ttl_s)
        except Exception as exc:
            self._failed(exc)
            return
        self._succeeded()

    def status(self) -> CacheStatus:
        """Ping Redis (bounded by ``timeout_s``); while the breaker is open, report why
        without waiting on Redis again."""
        if self._client is None or self._closed:
            return CacheStatus("disabled", None, None)
        client = self._client_to_use()
        if client is None:
            return CacheStatus("degraded", None, self._failure)
        started = time.perf_counter()
        try:
            client.ping()
        except Exception as exc:
            return CacheStatus("degraded", None, self._failed(exc))
        latency_ms = (time.perf_counter() - started) * 1000
        self._succeeded()
        return CacheStatus("ok", round(latency_ms, 3), None)

    def close(self) -> None:
        """Close the pooled connections; afterwards the cache behaves as disabled."""
        self._closed = True
        if self._client is not None:
            self._client.close()
            self._client.connection_pool.disconnect()

    # Circuit breaker -------------------------------------------------------------------------

    def _client_to_use(self) -> redis.Redis | None:
        """The client, or ``None`` when disabled, closed or while the breaker skips Redis.

        When the pause is over, the first caller probes Redis and pushes the next probe time
        forward, so concurrent requests keep skipping instead of all waiting on a dead Redis.
        """
        if self._client is None or self._closed:
            return None
        if self._failure is None:  # fast path; a stale read only costs one extra call
            return self._client
        with self._lock:
            if self._failure is None:
                return self._client
            now = time.monotonic()
            if now < self._retry_at:
                return None
            self._retry_at = now + self._retry_after_s
            return self._client

    def _failed(self, exc: Exception) -> str:
        detail = _redact(_describe(exc, self._timeout_s), self._secrets)
        with self._lock:
            first = self._failure is None
            changed = detail != self._failure
            self._failure = detail
            self._retry_at = time.monotonic() + self._retry_after_s
        if first or changed:
            logger.warning(
                "report cache degraded, Redis skipped for %g s: %s", self._retry_after_s, detail
            )
        return detail

    def _succeeded(self) -> None:
        if self._failure is None:
            return
        with self._lock:
            recovered = self._failure is not None
            self._failure = None
        if recovered:
            logger.info("report cache recovered: Redis answers again")


def _connection_pool(
    url: str, *, timeout_s: float, ca_cert: str | None
) -> tuple[ConnectionPool, tuple[str, ...]]:
    """A pool whose timeouts, retries and TLS verification are ours, whatever the URL's query
    string says (redis-py lets URL options override keyword arguments)."""
    try:
        options = parse_url(url)
    except ValueError:
        # Neither the URL nor redis-py's message (which may quote part of it) is repeated.
        raise ValueError(
            "REDIS_URL is not a usable Redis URL: use redis://[:password@]host:port/db, "
            "rediss://... for TLS, or unix:///path/to/socket"
        ) from None
    secrets = tuple(
        s
        for s in (url, unquote(url), options.get("password"), options.get("host"))
        if isinstance(s, str) and len(s) >= 3
    )
    options.update(
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_keepalive=True,
        health_check_interval=0,
        # One immediate retry, only for a broken connection (the server or a proxy closed an
        # idle one): it reconnects and costs no miss. A timeout is not retried: the caller
        # must not wait on a slow Redis twice. redis-py's default is 10 retries with backoff.
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        retry_on_error=[],
        retry_on_timeout=False,
    )
    tls = options.get("connection_class") is SSLConnection
    if tls:
        options.update(
            ssl_cert_reqs="required",
            ssl_check_hostname=True,
            ssl_include_verify_flags=None,
            ssl_exclude_verify_flags=None,
            ssl_ca_data=None,
            ssl_ca_certs=None,
        )
        if ca_cert:
            options.update(_ca_options(ca_cert))
    elif ca_cert:
        logger.warning("REDIS_CA_CERT is ignored: REDIS_URL is not rediss://, so no TLS is used")
    pool = ConnectionPool(**options)
    try:
        # Unknown URL query options would only fail at the first connection; fail now.
        pool.connection_class(**pool.connection_kwargs)
    except TypeError:
        raise ValueError("REDIS_URL has a query option redis-py does not know; remove it") from None
    return pool, secrets


def _ca_options(ca_cert: str) -> dict[str, str]:
    """PEM text goes in memory (no temporary file to leak or clean up); anything else is a
    path. Either is loaded once here so that a bad certificate fails at start-up."""
    context = ssl.create_default_context()
    if "-----BEGIN" in ca_cert:
        try:
            context.load_verify_locations(cadata=ca_cert)
        except (ssl.SSLError, ValueError):
            raise ValueError("REDIS_CA_CERT holds no valid PEM certificate") from None
        return {"ssl_ca_data": ca_cert}
    path = Path(ca_cert).expanduser()
    try:
        context.load_verify_locations(cafile=str(path))
    except (OSError, ssl.SSLError, ValueError):
        raise ValueError(
            f"REDIS_CA_CERT={str(path)!r} is neither PEM text nor a readable PEM certificate file"
        ) from None
    return {"ssl_ca_certs": str(path)}


def _describe(exc: BaseException, timeout_s: float) -> str:
    """Why the cache is degraded, in words chosen here: redis-py's own messages name the host."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, RedisTimeoutError):
        return f"Redis did not answer within {timeout_s * 1000:g} ms"
    if isinstance(exc, AuthenticationError):
        return "Redis refused the credentials in REDIS_URL"
    if isinstance(exc, AuthorizationError | NoPermissionError):
        return "the Redis user may not run GET/SET/PING"
    if isinstance(exc, RedisConnectionError):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the Redis TLS certificate is not trusted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS with Redis failed ({cause.reason or type(cause).__name__})"
        if isinstance(cause, TimeoutError):
            return f"Redis did not answer within {timeout_s * 1000:g} ms"
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect to Redis: {cause.strerror}"
        return "the connection to Redis failed or was closed"
    if isinstance(exc, ResponseError):
        # The server's own words (e.g. OOM, READONLY): they never echo credentials.
        return f"Redis answered with an error: {str(exc)[:200]}"
    return f"unexpected {type(exc).__name__} from the Redis client"


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """Belt and braces for the few texts that come from outside (TLS and server messages)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text
