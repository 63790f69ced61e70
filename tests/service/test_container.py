"""The container image, checked without a Docker engine.

- service/Dockerfile, .dockerignore, docker-compose.yml and service/deploy/nginx.conf are parsed
  and checked against what the image must be (slim base, non-root, only ``.[service]`` from the
  lock, health check, exec-form ``emg serve`` command).
- The image's exact CMD runs in this virtualenv (on a free port, loopback only): it must answer
  ``GET /health`` and exit 0 on SIGTERM, as the container runtime will ask it to.
- The service imports without the infrastructure SDKs or the plotting extra, which the image
  does not contain.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "service" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "docker-compose.yml"
NGINX_CONF = REPO / "service" / "deploy" / "nginx.conf"
PYPROJECT = REPO / "pyproject.toml"

MiB = 1 << 20
# What the build may copy from the context: the distribution's metadata, the lock and the two
# packages the image runs. Nothing else (tests, infra, stacks, .venv, .git) enters the image.
ALLOWED_COPY_SOURCES = {"pyproject.toml", "README.md", "requirements.lock", "emg_core", "service"}
# python:3.11-slim, optionally with a patch version, a Debian release and a digest.
SLIM_BASE = r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?"


# --- A small Dockerfile parser --------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str  # upper case, e.g. "RUN"
    args: str  # the rest of the logical line, continuations joined
    line: int  # 1-based line where the instruction starts

    def exec_form(self) -> list[str] | None:
        """The JSON array form of CMD/ENTRYPOINT/RUN/HEALTHCHECK CMD, or None (shell form)."""
        text = self.args.strip()
        if self.keyword == "HEALTHCHECK":
            _, _, text = text.partition("CMD")
            text = text.strip()
        if not text.startswith("["):
            return None
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse_dockerfile(text: str) -> list[Stage]:
    """Logical instructions grouped by stage: comments and blank lines dropped, lines ending in a
    backslash joined (comment lines inside a continuation are skipped, as Docker does)."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical = " ".join(p for p in pending if p)
        pending = []
        keyword, _, args = logical.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, "the Dockerfile ends inside a line continuation"

    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif instruction.keyword == "ARG" and not stages:
            continue  # global build arguments before the first FROM
        else:
            assert stages, f"line {instruction.line}: {instruction.keyword} before any FROM"
            stages[-1].instructions.append(instruction)
    return stages


def copy_sources(instruction: Instruction) -> tuple[list[str], list[str]]:
    """(flags, sources) of a COPY/ADD, shell or JSON form; the destination is dropped."""
    args = instruction.args.strip()
    if args.startswith("["):
        words = json.loads(args)
        flags: list[str] = []
    else:
        words = shlex.split(args)
        flags = [w for w in words if w.startswith("--")]
        words = [w for w in words if not w.startswith("--")]
    assert len(words) >= 2, f"line {instruction.line}: COPY needs a source and a destination"
    return flags, words[:-1]


@pytest.fixture(scope="module")
def dockerfile_text() -> str:
    return DOCKERFILE.read_text()


@pytest.fixture(scope="module")
def stages(dockerfile_text: str) -> list[Stage]:
    return parse_dockerfile(dockerfile_text)


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def image_cmd(final: Stage) -> list[str]:
    cmd = final.last("CMD")
    assert cmd is not None, "the final stage has no CMD"
    form = cmd.exec_form()
    assert form is not None, f"line {cmd.line}: CMD must use the exec (JSON) form: {cmd.args}"
    return form


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


# --- Dockerfile ---------------------------------------------------------------------------


def test_parser_joins_continuations_and_skips_comments() -> None:
    stages = parse_dockerfile(
        "# comment\nFROM python:3.11-slim AS a\nRUN echo 1 \\\n    # inside\n    && echo 2\n"
        'FROM python:3.11-slim\nCMD ["emg"]\n'
    )
    assert [(s.base, s.name) for s in stages] == [
        ("python:3.11-slim", "a"),
        ("python:3.11-slim", None),
    ]
    assert stages[0].instructions[0].args == "echo 1 && echo 2"
    assert stages[1].last("CMD").exec_form() == ["emg"]  # type: ignore[union-attr]


def test_multi_stage_on_pinned_python_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2, "build in one stage and run in another (no build tools at run time)"
    for stage in stages:
        assert re.fullmatch(SLIM_BASE, stage.base), (
            f"stage {stage.name or '?'} starts FROM {stage.base}, not a python:3.11-slim image"
        )
        assert ":latest" not in stage.base


def test_final_stage_runs_as_a_non_root_user(final: Stage) -> None:
    user = final.last("USER")
    assert user is not None, "the final stage has no USER: the server would run as root"
    name, _, group = user.args.strip().partition(":")
    assert name not in {"root", "0"}, f"line {user.line}: USER {user.args}"
    assert group not in {"root", "0"}, f"line {user.line}: USER {user.args} (root group)"


def test_only_the_service_extra_is_installed_from_the_lock(stages: list[Stage]) -> None:
    installs = [  # each pip install command on its own, without what is chained after it
        command.strip()
        for stage in stages
        for i in stage.all("RUN")
        for command in re.split(r"&&|\|\||;", i.args)
        if re.search(r"\bpip3? install\b", command)
    ]
    assert installs, "no pip install in the Dockerfile"
    project_installs = [a for a in installs if re.search(r"['\"]?\.\[", a)]
    assert project_installs, f"no install of the project ('.[service]') among {installs}"
    for args in installs:
        assert re.search(r"(--constraint|-c)[ =]requirements\.lock\b", args), (
            f"pip install without --constraint requirements.lock: {args}"
        )
        assert not re.search(r"(^|\s)(-e|--editable)(\s|=)", args), f"editable install: {args}"
    for args in project_installs:
        extras = re.findall(r"\.\[([^\]]*)\]", args)
        assert extras == ["service"], f"image must install exactly '.[service]', not {extras}"
        assert not re.search(r"\b(dev|infra|plot)\b", args), args


def test_no_infrastructure_sdk_in_the_image(dockerfile_text: str) -> None:
    assert "pulumi" not in dockerfile_text.lower()
    assert "matplotlib" not in dockerfile_text.lower()


def test_copies_only_what_the_distribution_needs(stages: list[Stage]) -> None:
    for stage in stages:
        for instruction in stage.all("COPY") + stage.all("ADD"):
            assert instruction.keyword == "COPY", f"line {instruction.line}: use COPY, not ADD"
            flags, sources = copy_sources(instruction)
            if any(f.startswith("--from=") for f in flags):
                continue  # from another stage, not from the build context
            for source in sources:
                normalised = source.removeprefix("./").rstrip("/")
                assert normalised in ALLOWED_COPY_SOURCES, (
                    f"line {instruction.line}: COPY {source}; "
                    f"allowed: {sorted(ALLOWED_COPY_SOURCES)}"
                )
    final_copies = [copy_sources(i) for i in stages[-1].all("COPY")]
    assert final_copies, "the final stage copies nothing from the builder"
    assert all(any(f.startswith("--from=") for f in flags) for flags, _ in final_copies), (
        "the runtime stage must take the virtualenv from the builder, not sources from the context"
    )


def test_port_health_check_and_stop_signal(final: Stage) -> None:
    assert "8080" in [p.split("/")[0] for e in final.all("EXPOSE") for p in e.args.split()]
    health = final.last("HEALTHCHECK")
    assert health is not None, "the final stage has no HEALTHCHECK"
    assert re.search(r"--timeout=\d+", health.args), "HEALTHCHECK needs a --timeout"
    assert "http://127.0.0.1:8080/health" in health.args
    assert "curl" not in health.args and "wget" not in health.args, "neither is in slim images"
    form = health.exec_form()
    assert form is not None and form[0] == "python", health.args
    stop = final.last("STOPSIGNAL")
    assert stop is None or stop.args.strip() in {"SIGTERM", "15"}


def test_environment_is_left_to_the_deployment(final: Stage) -> None:
    env = " ".join(i.args for i in final.all("ENV"))
    assert "PYTHONUNBUFFERED=1" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    assert "/opt/venv/bin" in env, "the virtualenv's scripts (emg) must be on PATH"
    assert "ENVIRONMENT" not in re.findall(r"\b([A-Z_]+)=", env), "the deployment sets it"
    assert not re.search(r"(?i)(secret|password|token|key)\w*=", env), "no secrets in the image"


def test_cmd_serves_the_api_on_port_8080(image_cmd: list[str]) -> None:
    assert image_cmd[:2] == ["emg", "serve"], image_cmd
    assert option(image_cmd, "--port") == "8080"
    assert option(image_cmd, "--host") == "0.0.0.0"
    assert int(option(image_cmd, "--workers")) >= 1


# --- Build context, compose file, proxy ------------------------------------------------------


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    for excluded in [".git", ".venv", "tests", "infra", "stacks", ".env", "*.egg-info"]:
        assert excluded in patterns, f".dockerignore does not exclude {excluded}"
    assert "**/__pycache__" in patterns or "__pycache__" in patterns
    for needed in ALLOWED_COPY_SOURCES:
        assert needed not in patterns and f"!{needed}" not in patterns, needed
    assert "*" not in patterns and "**" not in patterns


def compose_services(text: str) -> dict[str, str]:
    """Top-level ``services:`` entries and their indented bodies (PyYAML is not a dependency)."""
    match = re.search(r"^services:\s*\n(?P<body>(?:[ \t]+.*\n|\s*\n)*)", text + "\n", re.MULTILINE)
    assert match, "docker-compose.yml has no top-level services:"
    services: dict[str, str] = {}
    current = None
    for line in match["body"].splitlines():
        header = re.fullmatch(r"  ([A-Za-z0-9][\w.-]*):\s*", line)
        if header:
            current = header[1]
            services[current] = ""
        elif current:
            services[current] += line + "\n"
    return services


def test_compose_defines_the_local_stack() -> None:
    text = COMPOSE.read_text()
    assert "\t" not in text, "YAML must be indented with spaces"
    services = compose_services(text)
    assert {"service", "redis", "postgres", "nginx"} <= services.keys(), services.keys()

    api = services["service"]
    assert re.search(r"^\s+context:\s*\.\s*$", api, re.MULTILINE)
    assert re.search(r"^\s+dockerfile:\s*service/Dockerfile\s*$", api, re.MULTILINE)
    assert re.search(r"ENVIRONMENT:\s*development", api)
    assert "DATABASE_URL: postgresql://postgres:postgres@postgres:5432/emg" in api
    assert "REDIS_URL: redis://redis:6379/0" in api
    assert api.count("condition: service_healthy") == 2, "wait for healthy postgres and redis"

    assert "image: redis:7-alpine" in services["redis"]
    assert "healthcheck:" in services["redis"]
    assert "image: postgres:16-alpine" in services["postgres"]
    assert "pg_isready" in services["postgres"]
    assert re.search(r"- [\w-]+:/var/lib/postgresql/data", services["postgres"])

    proxy = services["nginx"]
    assert "image: nginx:1.27-alpine" in proxy
    assert re.search(r"""- ["']?(127\.0\.0\.1:)?8081:8081["']?""", proxy)
    mount = re.search(r"- \./(\S+?):/etc/nginx/conf\.d/default\.conf", proxy)
    assert mount and (REPO / mount[1]) == NGINX_CONF


def nginx_size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()]


def nginx_seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(s|m)?", value).groups()  # type: ignore[union-attr]
    return int(number) * (60 if unit == "m" else 1)


def test_nginx_lets_the_service_enforce_its_own_limits() -> None:
    from service.settings import Settings

    conf = NGINX_CONF.read_text()
    defaults = Settings.model_fields
    max_file_size = defaults["max_file_size"].default
    processing_timeout = defaults["processing_timeout"].default

    assert re.search(r"proxy_pass\s+http://(service:8080|\w+)\s*;", conf)
    assert re.search(r"server\s+service:8080", conf) or "proxy_pass http://service:8080" in conf
    assert re.search(r"listen\s+8081\s*;", conf)
    body = re.search(r"client_max_body_size\s+(\w+)\s*;", conf)
    assert body, "client_max_body_size is unset (nginx's default is 1 MiB)"
    # The service accepts the file plus 1 MiB of multipart overhead (service/main.py).
    assert nginx_size(body[1]) >= max_file_size + MiB, body[0]
    for directive in ["proxy_read_timeout", "proxy_send_timeout"]:
        found = re.search(rf"{directive}\s+(\w+)\s*;", conf)
        assert found and nginx_seconds(found[1]) >= processing_timeout, f"{directive} too short"


# --- The image's command, run here ---------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def group_alive(pgid: int) -> bool:
    """Whether a running (not zombie) process is left in the process group. Zombies are not
    counted: whoever is PID 1 here reaps orphans in its own time."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def test_image_command_serves_health_and_stops_gracefully_on_sigterm(
    image_cmd: list[str], tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / image_cmd[0]
    assert script.exists(), f"{script} is missing: install the project into this virtualenv"
    port = free_port()
    argv = [str(script), *image_cmd[1:]]
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--host") + 1] = "127.0.0.1"

    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "JWT_SECRET"}}
    env |= {
        "ENVIRONMENT": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'emg.sqlite3'}",
        "STORAGE_DIR": str(tmp_path / "var" / "storage"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=tmp_path,  # like WORKDIR /app: relative defaults land in a writable place
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to clean up whatever it starts
        )

    def output() -> str:
        return f"command: {shlex.join(argv)}\n--- output ---\n" + log_path.read_text(
            errors="replace"
        )

    try:
        url = f"http://127.0.0.1:{port}/health"
        deadline = time.monotonic() + 30
        status, body = 0, b""
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode} before /health\n{output()}")
            try:
                status, body = get(url)
            except (ConnectionError, urllib.error.URLError, TimeoutError):
                status = 0
            if status == 200:
                break
            time.sleep(0.1)
        assert status == 200, f"GET /health never answered 200 within 30 s\n{output()}"
        health = json.loads(body)
        assert health["status"] == "ok", health

        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running 15 s after SIGTERM\n{output()}")
        assert code == 0, f"server exited with {code} after SIGTERM\n{output()}"
        # Workers and parser processes go with it: nothing of its process group is left.
        deadline = time.monotonic() + 5
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not group_alive(process.pid), f"processes left after shutdown\n{output()}"
    finally:
        if process.poll() is None or group_alive(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# --- What the image installs -------------------------------------------------------------


def test_service_extra_holds_no_infrastructure_or_dev_tools() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    runtime = [*project["dependencies"], *project["optional-dependencies"]["service"]]
    names = {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in runtime}
    banned = {n for n in names if n.startswith("pulumi")}
    banned |= names & {"matplotlib", "pytest", "ruff", "hypothesis", "import-linter"}
    assert not banned, f"the image would install {sorted(banned)}"
    assert not any(r.startswith("emg-analyzer[") for r in runtime), runtime


IMPORT_CHECK = """
import importlib, json, pkgutil, sys
import emg_core, service
skipped = {"emg_core.plot", "service.db.migrations"}  # plot extra; alembic scripts
modules = []
for package in (emg_core, service):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if any(info.name == s or info.name.startswith(s + ".") for s in skipped):
            continue
        importlib.import_module(info.name)
        modules.append(info.name)
import service.main
service.main.create_app()
print(json.dumps({"modules": modules, "loaded": sorted(sys.modules)}))
"""


def test_service_imports_without_infrastructure_or_plotting_packages(tmp_path: Path) -> None:
    env = {**os.environ, "ENVIRONMENT": "development", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "service.main" in report["modules"] and "service.cli" in report["modules"]
    roots = {name.split(".")[0] for name in report["loaded"]}
    unwanted = {r for r in roots if r.startswith("pulumi")} | (roots & {"matplotlib", "pytest"})
    assert not unwanted, f"importing the service loads {sorted(unwanted)}, absent from the image"
