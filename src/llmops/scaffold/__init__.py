"""`llmops new assistant NAME`: a new assistant package that passes its own tests on creation.

The files come from `template/` (`*.tmpl`, with `$name`, `$title` and `$class_name` filled in;
`__name__` in a path becomes the name): the assistant module, its prompt, an eval set, a test, a
pyproject registering the `llmops.assistants` entry point, and a README.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

TEMPLATE_DIR = Path(__file__).resolve().parent / "template"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RESERVED = frozenset({"llmops", "test", "tests", "support_desk", "email_gatekeeper"})


class ScaffoldError(ValueError):
    """The package cannot be created; the message says why."""


def scaffold(name: str, parent: Path) -> list[Path]:
    """Write the package `parent/name/`; the files written, in order. Refuses an existing directory."""
    if not NAME.fullmatch(name) or name in _RESERVED:
        raise ScaffoldError(
            "the name must be a Python package name: lowercase letters, digits and `_`, starting with a "
            "letter, at most 40 characters, and not one llmops already uses"
        )
    root = parent / name
    if root.exists():
        raise ScaffoldError(f"{root} already exists; choose another name or directory")
    values = {
        "name": name,
        "title": name.replace("_", " ").title(),
        "class_name": "".join(part.capitalize() for part in name.split("_")),
    }
    written = []
    for source in sorted(TEMPLATE_DIR.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE_DIR).with_suffix("")
        target = root / str(relative).replace("__name__", name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(source.read_text(encoding="utf-8")).substitute(values), encoding="utf-8")
        written.append(target)
    return written
