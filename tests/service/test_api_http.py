"""The API over real HTTP: ``emg serve`` runs as a subprocess on a free port and every request goes
through the network stack with httpx (no TestClient, no mocks)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import MALFORMED, sample, shared_files
from tests.utils.c3d_factory import bursts, write_c3d
from tests.utils.e2e import Server, past_validation, running_server, with_int_parameter

FS = 990.0
GHOSTLY_LABELS = ["CH1 Raw", "CH2 Raw", "CH1 activated", "CH2 activated"]
PARSER_TIMEOUT_S = 3.0
PARSER_WORKERS = 2
SIGNAL_MAX_POINTS = 2000  # AnalysisParameters default
SMALL_LIMIT = 1_000_000  # MAX_FILE_SIZE of the second server, bytes

# EMG_SPEC.md anchors for sample 0409 at default parameters.
COMPLIANCE_0409 = 65.21
SYMMETRY_0409 = 97.87
COUNTS_0409 = {"CH1": 15, "CH2": 11}

# What each shared malformed file is refused for (all before the parser library sees them).
MALFORMED_REASONS = {
    "hang_params.c3d": "file has no analog channels",
    "segv_header_a.c3d": "file is truncated",
    "segv_header_b.c3d": "has an invalid data type",
}


@pytest.fixture(scope="module")
def sample_path() -> Path:
    return sample("0409")


@pytest.fixture(scope="module")
def sample_bytes(sample_path: Path) -> bytes:
    return sample_path.read_bytes()


@pytest.fixture(scope="module")
def past_validation_files(sample_bytes: bytes) -> dict[str, bytes]:
    """The shared crash and hang files made to pass validation, so the parser itself meets them."""
    malformed = {p.name: p for p in shared_files(MALFORMED, "*.c3d")}
    sources = {"crash": "segv_header_a.c3d", "hang": "hang_params.c3d"}
    if not set(sources.values()) <= set(malformed):
        pytest.skip(f"{sorted(sources.values())} not all in {MALFORMED}")
    return {
        kind: past_validation(malformed[name].read_bytes(), sample_bytes)
        for kind, name in sources.items()
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("server") / "emg-serve.log"
    env = {
        "ENVIRONMENT": "development",
        "PARSER_TIMEOUT": str(PARSER_TIMEOUT_S),
        "PARSER_WORKERS": str(PARSER_WORKERS),
    }
    with running_server(log, env) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as c:
        yield c


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("small-server") / "emg-serve.log"
    with running_server(log, {"MAX_FILE_SIZE": str(SMALL_LIMIT)}) as srv:
        yield srv


def upload(
    client: httpx.Client, filename: str, content: bytes, form: dict[str, Any] | None = None
) -> httpx.Response:
    files = {"file": (filename, content, "application/octet-stream")}
    return client.post("/upload", files=files, data=form or {})


def upload_on_new_connection(
    server: Server, filename: str, content: bytes, form: dict[str, Any] | None = None
) -> httpx.Response:
    """For requests that may end in a 500: uvicorn drops the keep-alive connection after one, so
    a shared client's next request could fail for a reason unrelated to the test."""
    with httpx.Client(base_url=server.url, timeout=60.0) as c:
        return upload(c, filename, content, form)


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> str:
    """The one error shape ``{"error": {"code", "message", ...}}``, with this status and code, a
    one-line message naming the problem and no internals; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) >= {"code", "message"}, body  # extra keys, e.g. request_id, are fine
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message.strip() and "\n" not in message, body
    for fragment in fragments:
        assert fragment in message, body
    for leak in ("Traceback", 'File "', "/work/", "/tmp/"):
        assert leak not in response.text, body
    return message


def report_of(response: httpx.Response) -> dict[str, Any]:
    """The report of a successful upload, parsed as strict JSON (no NaN or Infinity)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"response holds {constant}, which is not valid JSON")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    return json.loads(response.text, parse_constant=refuse)


def channel(report: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [c for c in report["channels"] if c["name"] == name]
    assert len(matches) == 1, [c["name"] for c in report["channels"]]
    return matches[0]


def assert_anchors_0409(report: dict[str, Any]) -> None:
    assert report["scores"]["compliance"] == pytest.approx(COMPLIANCE_0409, abs=0.005)
    assert report["scores"]["symmetry"] == pytest.approx(SYMMETRY_0409, abs=0.005)
    for name, count in COUNTS_0409.items():
        assert channel(report, name)["contractions"]["count"] == count


# --- health and docs ---------------------------------------------------------------------------


def parser_workers(client: httpx.Client) -> int:
    """Live parser workers, from /health or, where it only says "ok", from /health/detailed."""
    body = client.get("/health").json()
    if "parser_workers" in body:
        return body["parser_workers"]
    detailed = client.get("/health/detailed")
    assert detailed.status_code == 200, detailed.text
    return detailed.json()["checks"]["parser"].get("workers", 0)


def test_health_answers_ok(client: httpx.Client) -> None:
    response = client.get("/health")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
    # The parser pool starts in the background: its workers are reported once they are up.
    deadline = time.monotonic() + 20
    while (workers := parser_workers(client)) != PARSER_WORKERS and time.monotonic() < deadline:
        assert workers in range(PARSER_WORKERS + 1), workers
        time.sleep(0.2)
    assert workers == PARSER_WORKERS


def test_docs_are_served_in_development(client: httpx.Client) -> None:
    docs = client.get("/docs")
    schema = client.get("/openapi.json")

    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert schema.status_code == 200
    assert "/upload" in schema.json()["paths"]


def test_unknown_path_gets_the_json_error_shape(client: httpx.Client) -> None:
    assert_error(client.get("/nowhere"), 404, "http_error", "Not Found")


# --- good uploads ------------------------------------------------------------------------------


def test_upload_sample_returns_report_with_the_anchors(
    client: httpx.Client, sample_path: Path, sample_bytes: bytes
) -> None:
    response = upload(client, sample_path.name, sample_bytes)

    report = report_of(response)
    assert len(response.content) < 100_000  # no signals unless asked
    assert report["schema_version"] == "1.0"
    assert report["source"] == {
        "filename": sample_path.name,
        "sha256": hashlib.sha256(sample_bytes).hexdigest(),
        "size_bytes": len(sample_bytes),
    }
    assert report["recording"]["duration_s"] == pytest.approx(75.03, abs=0.005)
    assert report["recording"]["recorded_at"].startswith("2023-03-21T17:23:09")
    assert_anchors_0409(report)
    assert report.get("signals") is None
    assert report["scores"]["effort"] is None
    assert "no RPE given: no effort score" in report["warnings"]


def test_upload_form_parameters_take_effect(
    client: httpx.Client, sample_path: Path, sample_bytes: bytes
) -> None:
    form = {
        "rpe": "5",
        "mvc": ["CH1=0.00021", "CH2=0.0001"],  # a repeatable field
        "parameters": '{"expected_contractions": 10}',
    }

    response = upload(client, sample_path.name, sample_bytes, form)

    report = report_of(response)
    assert report["parameters"]["rpe"] == 5
    assert report["parameters"]["expected_contractions"] == 10
    assert report["scores"]["effort"] == 100  # Borg CR-10: 5 -> 100
    for name, mvc in (("CH1", 0.00021), ("CH2", 0.0001)):
        ch = channel(report, name)
        assert ch["mvc"]["method"] == "channel"
        assert ch["mvc"]["value_v"] == pytest.approx(mvc)
        assert ch["mvc"]["threshold_v"] == pytest.approx(mvc * 0.75, rel=1e-12)
    # 11 CH2 contractions complete 10 expected ones; against the default 12 they would not.
    assert report["scores"]["muscles"]["CH2"]["completion_rate"] == 1.0
    assert "no RPE given: no effort score" not in report["warnings"]


def test_upload_include_signals_adds_downsampled_signals(
    client: httpx.Client, sample_path: Path, sample_bytes: bytes
) -> None:
    response = upload(client, sample_path.name, sample_bytes, {"include_signals": "true"})

    report = report_of(response)
    assert_anchors_0409(report)
    signals = report["signals"]
    assert set(signals) == {"CH1", "CH2"}
    for name, sig in signals.items():
        n = len(sig["time_s"])
        assert 0 < n <= SIGNAL_MAX_POINTS, name
        assert len(sig["raw_v"]) == len(sig["envelope_v"]) == len(sig["activation"]) == n
        assert sig["time_s"] == sorted(sig["time_s"])
        assert sig["time_s"][-1] == pytest.approx(75.03, abs=0.5)


def test_upload_short_recording_keeps_channels_with_a_warning(
    client: httpx.Client, tmp_path: Path
) -> None:
    raw, activation = bursts(FS, 5.0, [1.0], [2.0])
    path = write_c3d(tmp_path / "short.c3d", [raw, raw, activation, activation], GHOSTLY_LABELS, FS)

    response = upload(client, path.name, path.read_bytes())

    report = report_of(response)
    assert report["recording"]["duration_s"] == pytest.approx(5.0, abs=0.05)
    assert [c["name"] for c in report["channels"]] == ["CH1", "CH2"]
    for ch in report["channels"]:
        assert ch["contractions"] is None
        assert any("not analysed" in w and "shorter than 10 s" in w for w in ch["warnings"]), ch
    assert report["scores"]["compliance"] is None
    assert any("not analysed" in w for w in report["warnings"])


def test_upload_nan_samples_leave_the_channel_out_with_a_warning(
    client: httpx.Client, tmp_path: Path
) -> None:
    raw, activation = bursts(FS, 30.0, [2.0, 8.0, 14.0, 20.0], [2.5] * 4)
    with_nan = raw.copy()
    with_nan[1000:1010] = np.nan
    signals = [with_nan, raw, activation, activation]
    path = write_c3d(tmp_path / "nan.c3d", signals, GHOSTLY_LABELS, FS)

    response = upload(client, path.name, path.read_bytes())

    report = report_of(response)
    ch1, ch2 = channel(report, "CH1"), channel(report, "CH2")
    assert ch1["contractions"] is None and ch1["amplitude"] is None
    assert any("not analysed" in w and "NaN" in w for w in ch1["warnings"]), ch1["warnings"]
    assert ch2["contractions"]["count"] == 4
    assert ch2["warnings"] == []


# --- bad inputs: one JSON error shape, exact codes, no internals ---------------------------------


@dataclass(frozen=True)
class BadUpload:
    """An upload that must be refused; ``content`` builds the file from the sample's bytes."""

    filename: str
    content: Callable[[bytes], bytes]
    status: int
    code: str
    fragments: tuple[str, ...]
    form: dict[str, Any] = field(default_factory=dict)


BAD_UPLOADS = {
    "empty-file": BadUpload("empty.c3d", lambda s: b"", 422, "invalid_c3d", ("file is empty",)),
    "text-file": BadUpload(
        "notes.c3d",
        lambda s: b"time,CH1 Raw\n0.000,0.0001\n" * 100,
        422,
        "invalid_c3d",
        ("not a C3D file",),
    ),
    "truncated-sample": BadUpload(
        "Ghostly_Emg_20230321_17-23-09-0409.c3d",
        lambda s: s[: len(s) // 2],
        422,
        "invalid_c3d",
        ("file is truncated", "the file has 614816 bytes"),
    ),
    "wrong-extension": BadUpload(
        "recording.txt",
        lambda s: s,
        415,
        "unsupported_file_type",
        ("'recording.txt' is not a .c3d file",),
    ),
    "no-analog-channels": BadUpload(
        "no_analog.c3d",
        lambda s: with_int_parameter(s, "ANALOG", "USED", 0),
        422,
        "invalid_c3d",
        ("file has no analog channels",),
    ),
    "rpe-out-of-range": BadUpload(
        "session.c3d",
        lambda s: s,
        422,
        "invalid_parameters",
        ("rpe:", "less than or equal to 10", "got 11"),
        {"rpe": "11"},
    ),
    "mvc-not-a-number": BadUpload(
        "session.c3d",
        lambda s: s,
        422,
        "invalid_parameters",
        ("mvc: 'abc' is not a number",),
        {"mvc": "CH1=abc"},
    ),
    "include-signals-not-a-flag": BadUpload(
        "session.c3d",
        lambda s: s,
        422,
        "invalid_parameters",
        ("include_signals: 'maybe' is not a true/false",),
        {"include_signals": "maybe"},
    ),
    "parameters-not-json": BadUpload(
        "session.c3d",
        lambda s: s,
        422,
        "invalid_parameters",
        ("parameters: not valid JSON",),
        {"parameters": "{expected_contractions: 10"},
    ),
    "parameters-not-an-object": BadUpload(
        "session.c3d",
        lambda s: s,
        422,
        "invalid_parameters",
        ("parameters: must be a JSON object",),
        {"parameters": "[10]"},
    ),
    "parameters-unknown-field": BadUpload(
        "session.c3d",
        lambda s: s,
        422,
        "invalid_parameters",
        ("expected_contraction: Extra inputs are not permitted",),
        {"parameters": '{"expected_contraction": 10}'},
    ),
    "weights-not-summing-to-one": BadUpload(
        "session.c3d",
        lambda s: s,
        422,
        "invalid_parameters",
        ("weights must sum to 1", "they sum to 1.5"),
        {"parameters": '{"score_weights": {"compliance": 1, "symmetry": 0.5, "effort": 0}}'},
    ),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_upload_refuses_bad_input(client: httpx.Client, sample_bytes: bytes, case: str) -> None:
    bad = BAD_UPLOADS[case]

    response = upload(client, bad.filename, bad.content(sample_bytes), bad.form)

    assert_error(response, bad.status, bad.code, *bad.fragments)


@pytest.mark.parametrize(
    "malformed",
    sorted(MALFORMED.glob("*.c3d")) or [None],
    ids=lambda p: p.name if p else "none",
)
def test_upload_refuses_malformed_file(client: httpx.Client, malformed: Path | None) -> None:
    if malformed is None:
        shared_files(MALFORMED, "*.c3d")  # skips, or fails under CI, naming the folder
        return

    started = time.monotonic()
    response = upload(client, malformed.name, malformed.read_bytes())

    reason = MALFORMED_REASONS.get(malformed.name)
    if reason is None:  # a file added to the folder later: refused either way, with a reason
        assert response.json()["error"]["code"] in {"invalid_c3d", "unreadable_c3d"}
        assert_error(response, 422, response.json()["error"]["code"])
    else:
        assert_error(response, 422, "invalid_c3d", reason)
    assert time.monotonic() - started < PARSER_TIMEOUT_S + 5


def test_upload_that_crashes_the_parser_is_refused_and_the_worker_replaced(
    server: Server, client: httpx.Client, past_validation_files: dict[str, bytes]
) -> None:
    response = upload_on_new_connection(server, "crash.c3d", past_validation_files["crash"])

    assert_error(response, 422, "unreadable_c3d", "the C3D parser crashed on this file")
    assert parser_workers(client) == PARSER_WORKERS
    assert server.alive, server.log()


def test_upload_that_hangs_the_parser_is_refused_after_the_parser_timeout(
    server: Server, client: httpx.Client, past_validation_files: dict[str, bytes]
) -> None:
    started = time.monotonic()
    response = upload_on_new_connection(server, "hang.c3d", past_validation_files["hang"])
    elapsed = time.monotonic() - started

    assert_error(response, 422, "unreadable_c3d", f"did not finish within {PARSER_TIMEOUT_S:g} s")
    assert PARSER_TIMEOUT_S - 0.5 < elapsed < PARSER_TIMEOUT_S + 5
    assert parser_workers(client) == PARSER_WORKERS
    assert server.alive, server.log()


def test_upload_without_file_field_is_refused(client: httpx.Client) -> None:
    response = client.post("/upload", data={"rpe": "5"}, files={"other": ("x.c3d", b"x")})

    assert_error(response, 422, "invalid_request", "file: Field required")


def test_upload_as_json_body_is_refused(client: httpx.Client) -> None:
    response = client.post("/upload", json={"file": "Ghostly_Emg.c3d"})

    assert_error(response, 422, "invalid_request", "file: Field required")


def test_get_on_upload_is_method_not_allowed(client: httpx.Client) -> None:
    assert_error(client.get("/upload"), 405, "http_error", "Method Not Allowed")


# --- parameters that only the recording's sampling rate makes invalid, and malformed ones ------


@pytest.mark.parametrize(
    "channels", ["5", '{"CH1": 5}', "[1]"], ids=["number", "channel-number", "list"]
)
def test_upload_refuses_malformed_channels_parameter(
    server: Server, sample_bytes: bytes, channels: str
) -> None:
    form = {"parameters": f'{{"channels": {channels}}}'}
    response = upload_on_new_connection(server, "session.c3d", sample_bytes, form)

    assert_error(response, 422, "invalid_parameters", "channels")


@pytest.mark.parametrize(
    ("parameters", "fragment"),
    [
        ('{"envelope_lowpass_hz": 1000}', "lowpass"),
        ('{"envelope_highpass_hz": 600}', "highpass"),
        ('{"bandpass_low_hz": 449}', "low"),
    ],
    ids=["envelope-lowpass", "envelope-highpass", "bandpass-low"],
)
def test_upload_refuses_filter_cutoff_the_sampling_rate_cannot_hold(
    server: Server, sample_bytes: bytes, parameters: str, fragment: str
) -> None:
    form = {"parameters": parameters}
    response = upload_on_new_connection(server, "session.c3d", sample_bytes, form)

    assert_error(response, 422, "invalid_parameters", fragment)


def test_upload_game_score_above_its_maximum_is_flagged(
    server: Server, sample_bytes: bytes
) -> None:
    response = upload_on_new_connection(server, "session.c3d", sample_bytes, {"game_max": "10"})

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["scores"]["game"] == 100
    assert (
        "achieved game score 24 exceeds the given maximum 10: game score capped at 100"
        in report["warnings"]
    )


# --- resilience --------------------------------------------------------------------------------


def test_server_keeps_serving_after_every_bad_input(
    server: Server,
    client: httpx.Client,
    sample_path: Path,
    sample_bytes: bytes,
    past_validation_files: dict[str, bytes],
) -> None:
    """Run every bad input again, back to back, then a good upload on the same server."""
    for case, bad in BAD_UPLOADS.items():
        response = upload(client, bad.filename, bad.content(sample_bytes), bad.form)
        assert response.status_code == bad.status, (case, response.text)
    for path in sorted(MALFORMED.glob("*.c3d")):
        assert upload(client, path.name, path.read_bytes()).status_code == 422, path.name
    for kind, content in past_validation_files.items():
        response = upload_on_new_connection(server, f"{kind}.c3d", content)
        assert response.status_code == 422, (kind, response.text)
    # Inputs that once ended in a 500: the server must survive them.
    for parameters in ('{"channels": 5}', '{"envelope_lowpass_hz": 1000}'):
        form = {"parameters": parameters}
        response = upload_on_new_connection(server, "session.c3d", sample_bytes, form)
        assert 400 <= response.status_code < 600 and "Traceback" not in response.text

    # A name of its own: a report cache (keyed by content, name and parameters) cannot answer it.
    response = upload(client, "after-bad-inputs.c3d", sample_bytes)

    assert_anchors_0409(report_of(response))
    assert client.get("/health").status_code == 200
    assert parser_workers(client) == PARSER_WORKERS
    assert server.alive, server.log()


def test_concurrent_good_uploads_succeed_while_the_parser_hangs_on_another(
    server: Server, sample_path: Path, sample_bytes: bytes, past_validation_files: dict[str, bytes]
) -> None:
    def post(filename: str, content: bytes) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        return upload_on_new_connection(server, filename, content), time.monotonic() - started

    with ThreadPoolExecutor(max_workers=5) as pool:
        hang_future = pool.submit(post, "hang.c3d", past_validation_files["hang"])
        time.sleep(0.2)  # let the hang file take a parser worker first
        # Names of their own: a report cache cannot answer one from another's result.
        good_futures = [pool.submit(post, f"concurrent-{i}.c3d", sample_bytes) for i in range(4)]
        good = [f.result() for f in good_futures]
        hang_response, hang_seconds = hang_future.result()

    for response, seconds in good:
        assert_anchors_0409(report_of(response))
        assert seconds < hang_seconds  # served by the other worker, not queued behind the hang
    assert_error(hang_response, 422, "unreadable_c3d", "did not finish within")
    assert hang_seconds < PARSER_TIMEOUT_S + 5
    assert server.alive, server.log()


# --- size limit (second server, MAX_FILE_SIZE=1000000) -------------------------------------------


def test_upload_over_the_file_limit_is_refused_with_413(small_server: Server) -> None:
    body = np.random.default_rng(0).bytes(2_000_000)

    with httpx.Client(base_url=small_server.url, timeout=60.0) as c:
        response = upload(c, "big.c3d", body)
        assert_error(response, 413, "file_too_large", "file exceeds the limit of 976.6 KiB")
        health = c.get("/health")

    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    assert small_server.alive, small_server.log()


def test_request_body_over_the_limit_is_refused_before_it_is_read(small_server: Server) -> None:
    # Beyond max_file_size + 1 MiB of multipart allowance: refused from Content-Length.
    body = np.random.default_rng(1).bytes(3_000_000)

    with httpx.Client(base_url=small_server.url, timeout=60.0) as c:
        response = upload(c, "big.c3d", body)
        assert_error(response, 413, "file_too_large", "request body exceeds the limit")
        health = c.get("/health")

    assert health.status_code == 200
    assert small_server.alive, small_server.log()


def test_chunked_body_over_the_limit_is_refused_with_413(small_server: Server) -> None:
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.c3d"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(30):
            yield b"\0" * 100_000
        yield b"\r\n--b--\r\n"

    # A generator body goes out with Transfer-Encoding: chunked, so only the streamed size counts.
    response = httpx.post(
        f"{small_server.url}/upload",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b"},
        timeout=60.0,
    )

    assert_error(response, 413, "file_too_large", "exceeds the limit")


@pytest.mark.parametrize(
    "query",
    ["offset=99999999999999999999", "offset=9223372036854775808", "patient_id=%00", "limit=0"],
)
def test_session_listing_refuses_out_of_range_queries_with_422(
    client: httpx.Client, query: str
) -> None:
    response = client.get(f"/sessions?{query}")
    assert_error(response, 422, "invalid_request")
