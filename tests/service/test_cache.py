"""ReportCache against real Redis servers: the shared one on 127.0.0.1:6379 for the data path,
private ``redis-server`` processes (plain and TLS) for what would disturb it (stopping it,
killing its clients), and plain sockets for a dead and a silent server.

Without Redis (or redis-server, or openssl for TLS) the tests skip with the reason; under
CI=true they fail instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from service.cache import CacheStatus, ReportCache
from tests.conftest import IN_CI

REDIS_URL = os.environ.get("EMG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TTL_S = 600
# Generous for the data path so a busy machine does not turn hits into misses; the tests about
# slow and dead servers use the production default.
DATA_TIMEOUT_S = 2.0
FAST_TIMEOUT_S = 0.05
SLACK_S = 0.25


def unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A port nothing listens on (the kernel just handed it out and it is closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def direct() -> Iterator[redis.Redis]:
    """A plain client on the shared Redis, to look behind the cache's back."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"no Redis at {REDIS_URL} ({type(exc).__name__}); start redis-server")
    yield client
    client.close()


@pytest.fixture
def new_key(direct: redis.Redis) -> Iterator[Callable[..., str]]:
    """Keys under a file hash unique to this test; deleted afterwards."""
    file_hash = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    made: list[str] = []

    def make(parameters_json: str = "{}") -> str:
        made.append(ReportCache.key(file_hash, parameters_json))
        return made[-1]

    yield make
    if made:
        direct.delete(*made)


@pytest.fixture
def cache(direct: redis.Redis) -> Iterator[ReportCache]:
    report_cache = ReportCache(REDIS_URL, ttl_s=TTL_S, timeout_s=DATA_TIMEOUT_S)
    yield report_cache
    report_cache.close()


@dataclass
class RedisServer:
    """A private redis-server subprocess that tests may stop, restart and disturb."""

    port: int = field(default_factory=free_port)
    extra: list[str] = field(default_factory=list)
    client_options: dict[str, object] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("redis-server is not on PATH")
        command = [executable, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--daemonize", "no", *(self.extra or ["--port", str(self.port)])]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self.client()
        deadline = time.monotonic() + 5
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.RedisError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        unavailable(f"redis-server {' '.join(self.extra)} did not start")
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)
        self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="localhost", port=self.port, socket_timeout=2, **self.client_options
        )


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Certificates:
    ca_pem: str
    ca_path: Path
    other_ca_pem: str


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, a server certificate it signed for localhost, and an unrelated CA."""
    if shutil.which("openssl") is None:
        unavailable("openssl is not on PATH (needed to make TLS test certificates)")
    folder = tmp_path_factory.mktemp("tls")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

    def openssl(command: str, *more: str) -> None:
        """``command`` holds no spaces inside its arguments: it is split on them."""
        arguments = ["openssl", *command.split(), *more]
        subprocess.run(arguments, cwd=folder, check=True, capture_output=True)

    for name in ("ca", "other-ca"):
        subject = f"/CN=emg test {name}"
        openssl(f"req -x509 -keyout {name}.key -out {name}.pem -days 1", *key, "-subj", subject)
    openssl("req -keyout server.key -out server.csr -subj /CN=localhost", *key)
    (folder / "san.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem"
        " -days 1 -extfile san.cnf"
    )
    return Certificates(
        ca_pem=(folder / "ca.pem").read_text(),
        ca_path=folder / "ca.pem",
        other_ca_pem=(folder / "other-ca.pem").read_text(),
    )


@pytest.fixture(scope="module")
def tls_redis(certificates: Certificates) -> Iterator[RedisServer]:
    folder = certificates.ca_path.parent
    port = free_port()
    server = RedisServer(
        port=port,
        extra=[
            *("--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"),
            *("--tls-cert-file", str(folder / "server.pem")),
            *("--tls-key-file", str(folder / "server.key")),
            *("--tls-ca-cert-file", str(certificates.ca_path)),
        ],
        client_options={"ssl": True, "ssl_ca_certs": str(certificates.ca_path)},
    )
    server.start()
    yield server
    server.stop()


class SilentServer:
    """Accepts connections and never answers: a Redis that hangs."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.02)  # so that close() stops the thread promptly
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.accepted.append(connection)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=2)
        self.listener.close()
        for connection in self.accepted:
            connection.close()


# The data path ---------------------------------------------------------------------------------


def test_set_then_get_returns_the_report_and_redis_holds_it_with_the_ttl(
    cache: ReportCache, direct: redis.Redis, new_key: Callable[..., str]
) -> None:
    key = new_key()
    report = b'{"channels": {"CH1": {"mvc": 1.5e-4}}}'
    cache.set(key, report)
    assert cache.get(key) == report
    assert direct.get(key) == report
    assert TTL_S - 5 <= direct.ttl(key) <= TTL_S


def test_get_of_a_key_never_set_is_a_miss(cache: ReportCache, new_key: Callable[..., str]) -> None:
    assert cache.get(new_key()) is None


def test_key_differs_for_different_parameters_and_only_for_them(
    cache: ReportCache, new_key: Callable[..., str]
) -> None:
    default, other = new_key('{"mvc_threshold": 0.1}'), new_key('{"mvc_threshold": 0.2}')
    assert default != other
    assert default == new_key('{"mvc_threshold": 0.1}')
    file_hash = default.split(":")[3]
    parameters_hash = hashlib.sha256(b'{"mvc_threshold": 0.1}').hexdigest()
    assert default == f"emg:report:v1:{file_hash}:{parameters_hash}"
    cache.set(default, b"report at 0.1")
    assert cache.get(other) is None
    assert cache.get(default) == b"report at 0.1"


def test_key_differs_for_different_files() -> None:
    first, second = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    assert ReportCache.key(first, "{}") != ReportCache.key(second, "{}")
    assert ReportCache.key(first.upper(), "{}") == ReportCache.key(first, "{}")


def test_key_rejects_what_is_not_a_sha256() -> None:
    with pytest.raises(ValueError, match=re.escape("file_hash='x:y' must be the 64-character")):
        ReportCache.key("x:y", "{}")


def test_status_is_ok_with_the_ping_latency(cache: ReportCache) -> None:
    status = cache.status()
    assert status.state == "ok"
    assert status.detail is None
    assert status.latency_ms is not None
    assert 0 < status.latency_ms < DATA_TIMEOUT_S * 1000


def test_threads_share_one_cache(cache: ReportCache, new_key: Callable[..., str]) -> None:
    keys = [new_key(f'{{"n": {n}}}') for n in range(64)]

    def round_trip(n: int) -> bytes | None:
        cache.set(keys[n], f"report {n}".encode())
        return cache.get(keys[n])

    with ThreadPoolExecutor(max_workers=8) as threads:
        results = list(threads.map(round_trip, range(len(keys))))
    assert results == [f"report {n}".encode() for n in range(len(keys))]


def test_disabled_cache_misses_stores_nothing_and_says_disabled() -> None:
    cache = ReportCache(None, ttl_s=TTL_S)
    key = ReportCache.key("0" * 64, "{}")
    cache.set(key, b"report")
    assert cache.get(key) is None
    assert cache.status() == CacheStatus("disabled", None, None)
    cache.close()


def test_closed_cache_behaves_as_disabled(cache: ReportCache, new_key: Callable[..., str]) -> None:
    key = new_key()
    cache.set(key, b"report")
    cache.close()
    assert cache.get(key) is None
    assert cache.status().state == "disabled"


# Failures are misses, quickly ------------------------------------------------------------------


def test_dead_port_is_a_fast_miss_and_the_breaker_then_skips_redis() -> None:
    cache = ReportCache(f"redis://127.0.0.1:{free_port()}/0", ttl_s=TTL_S, timeout_s=FAST_TIMEOUT_S)
    key = ReportCache.key("0" * 64, "{}")
    assert seconds(lambda: cache.get(key)) < 0.3
    status = cache.status()
    assert status == CacheStatus("degraded", None, "cannot connect to Redis: Connection refused")
    assert seconds(lambda: [cache.get(key) for _ in range(100)]) < 0.1
    assert seconds(lambda: [cache.set(key, b"report") for _ in range(100)]) < 0.1
    cache.close()


def test_silent_server_costs_one_timeout_then_is_skipped() -> None:
    server = SilentServer()
    cache = ReportCache(f"redis://127.0.0.1:{server.port}/0", ttl_s=TTL_S, timeout_s=FAST_TIMEOUT_S)
    key = ReportCache.key("0" * 64, "{}")
    try:
        assert seconds(lambda: cache.get(key)) < FAST_TIMEOUT_S + SLACK_S
        assert seconds(lambda: cache.set(key, b"report")) < 0.01
        status = cache.status()
        assert status == CacheStatus("degraded", None, "Redis did not answer within 50 ms")
    finally:
        cache.close()
        server.close()


def test_silent_server_probe_after_the_pause_is_bounded_too() -> None:
    server = SilentServer()
    cache = ReportCache(
        f"redis://127.0.0.1:{server.port}/0",
        ttl_s=TTL_S,
        timeout_s=FAST_TIMEOUT_S,
        retry_after_s=0.1,
    )
    try:
        cache.get(ReportCache.key("0" * 64, "{}"))
        time.sleep(0.15)
        started = time.perf_counter()
        status = cache.status()  # the probe: pings the silent server again
        assert time.perf_counter() - started < FAST_TIMEOUT_S + SLACK_S
        assert status.state == "degraded"
    finally:
        cache.close()
        server.close()


@pytest.mark.parametrize("how", ["client kill", "idle timeout"])
def test_connection_dropped_by_the_server_costs_no_error(
    private_redis: RedisServer, how: str
) -> None:
    cache = ReportCache(
        f"redis://127.0.0.1:{private_redis.port}/0", ttl_s=TTL_S, timeout_s=DATA_TIMEOUT_S
    )
    admin = private_redis.client()
    key = ReportCache.key("0" * 64, "{}")
    try:
        cache.set(key, b"report")
        assert cache.get(key) == b"report"
        admin_id = str(admin.client_id())

        def cache_connections() -> set[str]:
            return {c["id"] for c in admin.client_list(_type="normal")} - {admin_id}

        dropped = cache_connections()
        assert dropped, "the cache should hold a pooled connection"
        if how == "client kill":
            assert admin.client_kill_filter(_type="normal", skipme=True) == len(dropped)
        else:  # what managed Redis does to idle connections (whole seconds: takes 1-3 s)
            admin.config_set("timeout", 1)
            deadline = time.monotonic() + 5
            while dropped & cache_connections() and time.monotonic() < deadline:
                time.sleep(0.1)
            admin.config_set("timeout", 0)
        assert not dropped & cache_connections()
        results = [cache.get(key) for _ in range(3)]
        assert results.count(None) <= 1, results
        assert results[-1] == b"report"
        assert cache.status().state == "ok"
    finally:
        admin.close()
        cache.close()


def test_cache_comes_back_after_redis_restarts(private_redis: RedisServer) -> None:
    cache = ReportCache(
        f"redis://127.0.0.1:{private_redis.port}/0",
        ttl_s=TTL_S,
        timeout_s=FAST_TIMEOUT_S,
        retry_after_s=0.2,
    )
    key = ReportCache.key("0" * 64, "{}")
    try:
        cache.set(key, b"before")
        assert cache.get(key) == b"before"

        private_redis.stop()
        assert cache.get(key) is None
        assert cache.status().state == "degraded"

        private_redis.start()  # empty: nothing is persisted
        assert cache.get(key) is None  # still within the pause: Redis not asked
        time.sleep(0.25)
        cache.set(key, b"after")
        assert cache.get(key) == b"after"
        status = cache.status()
        assert status.state == "ok" and status.latency_ms is not None
    finally:
        cache.close()


# TLS -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("given_as", ["pem text", "path"])
def test_tls_with_the_ca_as_pem_text_or_path(
    tls_redis: RedisServer, certificates: Certificates, given_as: str
) -> None:
    ca_cert = certificates.ca_pem if given_as == "pem text" else str(certificates.ca_path)
    cache = ReportCache(
        f"rediss://localhost:{tls_redis.port}/0",
        ttl_s=TTL_S,
        timeout_s=DATA_TIMEOUT_S,
        ca_cert=ca_cert,
    )
    key = ReportCache.key(hashlib.sha256(given_as.encode()).hexdigest(), "{}")
    try:
        assert cache.status().state == "ok"
        cache.set(key, b"report over TLS")
        assert cache.get(key) == b"report over TLS"
    finally:
        cache.close()


@pytest.mark.parametrize("ca", ["other CA", "system CAs"])
def test_tls_refuses_a_certificate_the_ca_did_not_sign(
    tls_redis: RedisServer, certificates: Certificates, ca: str
) -> None:
    cache = ReportCache(
        # The URL asks not to verify: the cache verifies anyway.
        f"rediss://localhost:{tls_redis.port}/0?ssl_cert_reqs=none",
        ttl_s=TTL_S,
        timeout_s=DATA_TIMEOUT_S,
        ca_cert=certificates.other_ca_pem if ca == "other CA" else None,
    )
    try:
        assert cache.get(ReportCache.key("0" * 64, "{}")) is None
        status = cache.status()
        assert status.state == "degraded"
        # OpenSSL's reason differs with the chain ("self-signed certificate in certificate
        # chain", "unable to get local issuer certificate"): only ours is asserted.
        assert status.detail is not None
        assert status.detail.startswith("the Redis TLS certificate is not trusted (")
    finally:
        cache.close()


# Secrets and configuration ---------------------------------------------------------------------


def test_refused_credentials_are_reported_without_the_password(
    direct: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    url = f"redis://emg-no-such-user:{password}@127.0.0.1:6379/0"
    caplog.set_level(logging.DEBUG)
    cache = ReportCache(url, ttl_s=TTL_S, timeout_s=DATA_TIMEOUT_S)
    assert cache.get(ReportCache.key("0" * 64, "{}")) is None
    status = cache.status()
    cache.close()
    assert status == CacheStatus("degraded", None, "Redis refused the credentials in REDIS_URL")
    assert "report cache degraded" in caplog.text
    for text in (caplog.text, repr(cache), str(status)):
        assert password not in text
        assert "127.0.0.1:6379" not in text


def test_dead_redis_detail_and_logs_hold_no_part_of_the_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    url = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    caplog.set_level(logging.DEBUG)
    cache = ReportCache(url, ttl_s=TTL_S, timeout_s=FAST_TIMEOUT_S)
    cache.set(ReportCache.key("0" * 64, "{}"), b"report")
    status = cache.status()
    cache.close()
    assert status.state == "degraded"
    for text in (caplog.text, str(status)):
        assert password not in text
        assert url.split("@")[1] not in text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://:secret-pw@host:6379", "REDIS_URL is not a usable Redis URL"),
        ("redis://:secret-pw@host:99999/0", "REDIS_URL is not a usable Redis URL"),
        ("redis://:secret-pw@host:6379/0?no_such=1", "REDIS_URL has a query option"),
    ],
)
def test_unusable_url_is_refused_at_start_without_repeating_it(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        ReportCache(url, ttl_s=TTL_S)
    assert "secret-pw" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_unusable_ca_certificate_is_refused_at_start(tmp_path: Path) -> None:
    url = "rediss://localhost:6380/0"
    with pytest.raises(ValueError, match=r"^REDIS_CA_CERT holds no valid PEM certificate$"):
        ReportCache(url, ttl_s=TTL_S, ca_cert="-----BEGIN CERTIFICATE-----\nnope\n")
    missing = tmp_path / "missing.pem"
    with pytest.raises(ValueError, match="is neither PEM text nor a readable PEM certificate"):
        ReportCache(url, ttl_s=TTL_S, ca_cert=str(missing))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ttl_s": 0}, "ttl_s=0 must be >= 1"),
        ({"ttl_s": 1, "timeout_s": 0.0}, "timeout_s=0.0 must be > 0"),
        ({"ttl_s": 1, "retry_after_s": -1.0}, "retry_after_s=-1.0 must be >= 0"),
    ],
)
def test_unusable_numbers_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ReportCache(None, **options)  # type: ignore[arg-type]
