"""The manual stays true: generated pages are fresh, links resolve, settings exist, the README's first
request works, and the README stays a short front door whose set-up commands CI runs."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from live import LiveServer
from llmops.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _section(markdown: str, heading: str) -> str:
    """The text under a `## heading`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def _code_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, re.S | re.M)


def test_generated_pages_are_fresh() -> None:
    assert _generator().stale_pages() == [], "run `make docs` (python docs/generate.py)"


def test_readme_is_a_short_front_door() -> None:
    readme = _text(README)
    assert len(readme.splitlines()) <= 200
    for page in ("index.md", "http-api.md", "cli.md", "configuration.md"):
        assert f"(docs/{page})" in readme


def test_ci_runs_the_readme_test_command() -> None:
    readme = _text(README)
    assert "make serve" in readme and "make test" in readme
    assert "make test" in _text(ROOT / ".ci" / "run")


def _anchors(markdown: str) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_relative_links_resolve() -> None:
    broken = []
    for page in PAGES:
        text = re.sub(r"^```.*?^```", "", _text(page), flags=re.S | re.M)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue
            file_part, _, anchor = target.partition("#")
            path = (page.parent / file_part).resolve() if file_part else page
            if not path.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(_text(path)):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_every_llmops_variable_in_the_docs_is_a_setting() -> None:
    generator = _generator()
    known = generator.setting_env_names() | generator.cli_env_names()
    # Read by `load_settings` itself rather than declared as a field (e.g. LLMOPS_SECRETS_DIR).
    config_source = _text(ROOT / "src" / "llmops" / "config.py")
    known |= set(re.findall(r"environ(?:\.get)?\(\s*[\"'](LLMOPS_[A-Z0-9_]+)", config_source))
    unknown = []
    for page in PAGES:
        for name, star in re.findall(r"\b(LLMOPS_[A-Z0-9_]+)(\*?)", _text(page)):
            ok = any(env.startswith(name) for env in known) if star else name in known
            if not ok:
                unknown.append(f"{page.name}: {name}{star}")
    assert unknown == []


def test_every_setting_is_on_the_configuration_page() -> None:
    page = _text(DOCS / "configuration.md")
    assert [env for env in sorted(_generator().setting_env_names()) if f"`{env}`" not in page] == []


def _curl_request(block: str) -> tuple[str, str, dict[str, str], str | None]:
    """Method, URL, headers and body of the `curl` command in a shell block."""
    command = block[re.search(r"^curl ", block, re.M).start() :]  # type: ignore[union-attr]
    args = shlex.split(command.replace("\\\n", " "), comments=True)[1:]
    url, headers, data, method = None, {}, None, None
    while args:
        arg = args.pop(0)
        if arg in ("-H", "--header"):
            name, _, value = args.pop(0).partition(":")
            headers[name.strip()] = value.strip()
        elif arg in ("-d", "--data", "--data-raw"):
            data = args.pop(0)
        elif arg in ("-X", "--request"):
            method = args.pop(0)
        elif arg.startswith("-"):
            assert arg in ("-s", "--silent", "-S", "--show-error"), f"unhandled curl option {arg}"
        else:
            url = arg
    assert url is not None, "the curl example has no URL"
    return method or ("POST" if data is not None else "GET"), url, headers, data


def test_readme_first_request_works(live_server: Callable[..., LiveServer]) -> None:
    section = _section(_text(README), "A first request")
    method, url, headers, body = _curl_request(next(b for b in _code_blocks(section, "sh") if "curl " in b))
    documented = json.loads(_code_blocks(section, "json")[0].replace("…", ""))

    # As written it targets `make serve`'s defaults.
    defaults = Settings.model_fields
    assert url.startswith(f"http://{defaults['host'].default}:{defaults['port'].default}/")

    server = live_server()
    headers = {name: value.replace("$KEY", server.key) for name, value in headers.items()}
    path = url.split("/", 3)[3]
    with server.client(authenticated=False) as client:
        reply = client.request(method, f"/{path}", headers=headers, content=body)

    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert set(data) == set(documented)
    assert set(data["triage"]) == set(documented["triage"])
    assert set(data["usage"]) == set(documented["usage"])
    # the issue that started the rules' rewrite: this email came back `fyi`, priority 4
    assert (data["triage"]["category"], data["triage"]["priority"]) == (
        documented["triage"]["category"],
        documented["triage"]["priority"],
    )
    assert reply.headers["x-request-id"] == data["request_id"]


def test_readme_cli_example_names_a_sample_that_exists() -> None:
    for block in _code_blocks(_text(README), "sh"):
        for sample in re.findall(r"\bsamples/\S+", block):
            assert (ROOT / sample).is_file(), sample
