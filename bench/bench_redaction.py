"""Redaction throughput on mixed realistic text, against a naive regex baseline and Presidio (if present).

Run: `.venv/bin/python bench/bench_redaction.py [--mb 8] [--secret-rate 0.03] [--base REV]`

Builds a deterministic corpus of service logs, email prose and span JSON in which a few percent of the
records carry a planted secret or piece of personal data, then prints, in one table, MB/s for the whole
corpus as one string and record by record (how sinks call it), for the clean corpus, and how many planted
values each contender left readable. Rates are MB per CPU-second, best of three rounds in which the
contenders take turns, so a busy machine moves them less than wall-clock rates. With `--base REV` the Redactor of that git revision (read with
`git show` into a temporary package) runs in the same process, so before and after share one machine state.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import random
import re
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmops.redaction import Redactor

VOCABULARY = (
    "thanks for the quick reply we would like to schedule a call next week about the renewal of our contract "
    "please find attached the updated invoice and let me know if anything is missing the meeting was moved "
    "to thursday afternoon because the team is travelling our order has not arrived yet could you check the "
    "status shipping delayed customer asked for a refund regarding the proposal we reviewed the numbers and "
    "they look good overall but legal needs another day to sign off kind regards best wishes"
)
WORDS = VOCABULARY.split()
NAMES = ["Anna Schmidt", "Tom Becker", "Priya Patel", "Lucas Martin", "Mei Chen", "Omar Haddad"]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


def _iban(rng: random.Random) -> str:
    bban = "".join(rng.choice(string.digits) for _ in range(18))
    number = int("".join(str(int(c, 36)) for c in bban + "DE00"))
    compact = f"DE{98 - number % 97:02d}{bban}"
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _jwt(rng: random.Random, user: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": user}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.{_token(rng, 43, string.ascii_letters + string.digits + '-_')}"


def _secret(rng: random.Random) -> tuple[str, str]:
    """A line carrying one sensitive value, and that value (which must not survive redaction)."""
    user = rng.choice(NAMES).split()[0].lower()
    urlsafe = string.ascii_letters + string.digits + "-_"
    templates: list[tuple[str, Callable[[], str]]] = [
        ("Please reach me at {} anytime.", lambda: f"{user}.{_hex(rng, 4)}@example-corp.com"),
        ("Call me on {} after 5pm.", lambda: f"+44 20 79{rng.randint(10, 99)} {rng.randint(1000, 9999)}"),
        ("card on file {} exp 09/27", lambda: _luhn_complete("4", 16, rng)),
        ("Mastercard {}", lambda: _luhn_complete("5", 16, rng)),
        ("Wire to IBAN {} by Friday.", lambda: _iban(rng)),
        (
            "applicant ssn {}",
            lambda: f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        ),
        (
            "login from {} failed",
            lambda: f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.7",
        ),
        ("Authorization: Bearer {}", lambda: "sk-proj-" + _token(rng, 48)),
        ("export ANTHROPIC_API_KEY={}", lambda: "sk-ant-api03-" + _token(rng, 90)),
        ("db url postgres://app:{}@db.internal:5432/prod", lambda: _token(rng, 16)),
        ("aws key {} used", lambda: "AKIA" + _token(rng, 16, string.ascii_uppercase + string.digits)),
        ("GITHUB_TOKEN={}", lambda: "ghp_" + _token(rng, 36)),
        ('{{"password": "{}", "user": "x"}}', lambda: rng.choice(["hunter2", "Winter2024!", "letmein99"])),
        ("jwt={}", lambda: _jwt(rng, user)),
        ("key={}", lambda: "llmops_" + _token(rng, 43, urlsafe)),
    ]
    template, make_value = rng.choice(templates)
    value = make_value()
    return template.format(value), value


def _log_line(rng: random.Random) -> str:
    day, hour, minute, second = rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    ts = f"2024-05-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    return (
        f"{ts}.{rng.randint(0, 999):03d}Z INFO llmops.api.triage request_id={_hex(rng, 8)}-{_hex(rng, 4)}-4"
        f"{_hex(rng, 3)}-a{_hex(rng, 3)}-{_hex(rng, 12)} trace_id={_hex(rng, 32)} span_id={_hex(rng, 16)} "
        f"method=POST path=/v1/triage status={rng.choice([200, 200, 200, 429, 500])} "
        f"duration_ms={rng.uniform(5, 900):.1f} prompt=email_triage_v{rng.randint(1, 3)} "
        f"model=SmolLM2-135M-Instruct input_tokens={rng.randint(50, 900)} "
        f"output_tokens={rng.randint(10, 300)} "
        f"version=0.{rng.randint(1, 9)}.{rng.randint(0, 20)}"
    )


def _prose(rng: random.Random) -> str:
    sentences = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))).capitalize() + "." for _ in range(3)
    ]
    return f"Hi {rng.choice(NAMES).split()[0]}, " + " ".join(sentences) + f" Best, {rng.choice(NAMES)}"


def _span_json(rng: random.Random) -> str:
    return json.dumps(
        {
            "name": "chat SmolLM2-135M-Instruct",
            "trace_id": _hex(rng, 32),
            "start_time_unix_nano": 1_717_000_000_000_000_000 + rng.randint(0, 10**15),
            "attributes": {
                "gen_ai.usage.input_tokens": rng.randint(50, 900),
                "llmops.order_id": f"ORD-2024-{rng.randint(0, 999_999):06d}",
                "llmops.cost.usd": round(rng.uniform(0, 0.01), 6),
                "llmops.commit": _hex(rng, 40),
                "note": " ".join(rng.choice(WORDS) for _ in range(10)),
                "price": f"${rng.randint(1, 9999):,}.{rng.randint(0, 99):02d}",
            },
        }
    )


def build_corpus(megabytes: float, secret_rate: float, seed: int = 7) -> tuple[list[str], list[str]]:
    """Records (one per log line, email or JSON document) and the planted values among them."""
    rng = random.Random(seed)
    records: list[str] = []
    planted: list[str] = []
    size = 0
    while size < megabytes * 1_000_000:
        roll = rng.random()
        if roll < secret_rate:
            line, value = _secret(rng)
            planted.append(value)
        elif roll < 0.5:
            line = _log_line(rng)
        elif roll < 0.8:
            line = _prose(rng)
        else:
            line = _span_json(rng)
        records.append(line)
        size += len(line) + 1
    return records, planted


# --- the Redactor of another revision, for before/after figures from one run ---------------------------------

# The last commit before issue 10, item 9 (phone extensions and formats, generic random tokens, cut JWTs).
BASELINE_REV = "1b956ca"
_PACKAGE = "src/llmops/redaction"


def load_redactor_at(rev: str, repo: Path) -> type:
    """The `Redactor` class of `llmops.redaction` at git revision `rev`, loaded as a separate package."""
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "--name-only", f"{rev}:{_PACKAGE}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    folder = Path(tempfile.mkdtemp(prefix="redaction-")) / f"llmops_redaction_{rev}"
    folder.mkdir()
    for name in listing:
        if name.endswith(".py"):
            source = subprocess.run(
                ["git", "-C", str(repo), "show", f"{rev}:{_PACKAGE}/{name}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            (folder / name).write_text(source)
    spec = importlib.util.spec_from_file_location(
        folder.name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the redaction package at {rev}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[folder.name] = module  # its modules import each other relatively, through this name
    spec.loader.exec_module(module)
    return module.Redactor


# --- the naive baseline: every pattern run over the whole text in sequence ---------------------------------


def _luhn(digits: str) -> bool:
    digits = re.sub(r"\D", "", digits)
    total = sum(int(c) if i % 2 == 0 else sum(divmod(int(c) * 2, 10)) for i, c in enumerate(reversed(digits)))
    return 13 <= len(digits) <= 19 and total % 10 == 0


NAIVE_PATTERNS: list[tuple[str, str, Callable[[str], bool] | None]] = [
    ("PRIVATE_KEY", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----", None),
    ("JWT", r"\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]*", None),
    ("OPENAI_KEY", r"\bsk-(?:proj-|ant-)?[\w-]{20,}", None),
    ("AWS_ACCESS_KEY", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", None),
    ("GITHUB_TOKEN", r"\bgh[pousr]_[A-Za-z0-9]{36}\b", None),
    ("LLMOPS_KEY", r"\bllmops_[\w-]{43}", None),
    ("SLACK_TOKEN", r"\bxox[baprs]-[\w-]{10,}", None),
    ("GOOGLE_API_KEY", r"\bAIza[\w-]{35}", None),
    ("PASSWORD", r"(?i)(?<=://)[^\s:/@]+:([^\s/@]+)(?=@)", None),
    (
        "SECRET",
        r"(?i)\b(?:password|passwd|secret|api_key|token|authorization)\b[\"']?\s*[:=]\s*[\"']?[^\s\"',]+",
        None,
    ),
    ("EMAIL", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", None),
    ("CREDIT_CARD", r"\b(?:\d[ -]?){12,18}\d\b", _luhn),
    ("IBAN", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b", None),
    ("SSN", r"\b\d{3}-\d{2}-\d{4}\b", None),
    ("PHONE", r"(?:\+\d{1,3}[ .-]?)?\(?\d{2,4}\)?[ .-]\d{3,4}[ .-]?\d{3,4}\b", None),
    ("IP_ADDRESS", r"\b(?:\d{1,3}\.){3}\d{1,3}\b", None),
]


class NaiveRedactor:
    def __init__(self) -> None:
        self._patterns = [(f"[{kind}]", re.compile(p), check) for kind, p, check in NAIVE_PATTERNS]

    def redact(self, text: str) -> str:
        for placeholder, pattern, check in self._patterns:
            if check is None:
                text = pattern.sub(placeholder, text)
            else:
                text = pattern.sub(lambda m, p=placeholder, c=check: p if c(m.group()) else m.group(), text)
        return text


# --- measurement -----------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    blob_mbps: float
    records_mbps: float
    clean_mbps: float
    leaked: int
    planted: int


def measure(
    contenders: list[tuple[str, Callable[[str], str]]],
    records: list[str],
    planted: list[str],
    clean: list[str],
    rounds: int = 3,
) -> list[Row]:
    """MB per CPU-second of this process, each figure the best of `rounds`, the contenders taking turns
    within each round: the machine's other load moves wall-clock figures a lot, and CPU time less, but
    still enough that measuring one contender after the other would favour whichever ran at a quiet time.
    """
    blob = "\n".join(records)
    clean_blob = "\n".join(clean)
    best = {name: [float("inf")] * 3 for name, _ in contenders}
    for _ in range(rounds):
        for name, redact in contenders:
            runs = (
                lambda redact=redact: redact(blob),
                lambda redact=redact: [redact(record) for record in records],
                lambda redact=redact: redact(clean_blob),
            )
            for column, run in enumerate(runs):
                start = time.process_time()
                run()
                best[name][column] = min(best[name][column], time.process_time() - start)
    rows = []
    for name, redact in contenders:
        output = redact(blob)
        blob_s, records_s, clean_s = best[name]
        rows.append(
            Row(
                name,
                blob_mbps=len(blob) / 1e6 / blob_s,
                records_mbps=len(blob) / 1e6 / records_s,
                clean_mbps=len(clean_blob) / 1e6 / clean_s,
                leaked=sum(1 for value in planted if value in output),
                planted=len(planted),
            )
        )
    return rows


def _presidio() -> Callable[[str], str] | None:
    """Presidio's pattern recognizers with a no-op NLP engine (the spaCy models cannot be downloaded here)."""
    try:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
    except ImportError:
        return None

    class NoNlp(NlpEngine):  # type: ignore[misc]
        def load(self) -> None: ...
        def is_loaded(self) -> bool:
            return True

        def process_text(self, text: str, language: str) -> NlpArtifacts:
            return NlpArtifacts([], [], [], [], None, language)

        def process_batch(self, texts, language, batch_size=1, n_process=1, **kwargs):  # type: ignore[no-untyped-def]
            return ((text, self.process_text(text, language)) for text in texts)

        def is_stopword(self, word: str, language: str) -> bool:
            return False

        def is_punct(self, word: str, language: str) -> bool:
            return False

        def get_supported_entities(self) -> list[str]:
            return []

        def get_supported_languages(self) -> list[str]:
            return ["en"]

    try:  # Presidio's email and URL recognizers would fetch the public suffix list; use the bundled copy.
        import tldextract

        tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    except ImportError:
        pass
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers()
    engine = AnalyzerEngine(registry=registry, nlp_engine=NoNlp(), supported_languages=["en"])

    def redact(text: str) -> str:
        results = sorted(engine.analyze(text=text, language="en"), key=lambda r: r.start, reverse=True)
        for result in results:
            text = text[: result.start] + f"[{result.entity_type}]" + text[result.end :]
        return text

    return redact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=8.0, help="corpus size in MB")
    parser.add_argument(
        "--secret-rate", type=float, default=0.03, help="share of records with a planted value"
    )
    parser.add_argument(
        "--presidio-mb", type=float, default=0.3, help="corpus size for Presidio (it is slow)"
    )
    parser.add_argument(
        "--base", help=f"also measure the Redactor of this git revision (e.g. {BASELINE_REV})"
    )
    args = parser.parse_args()

    records, planted = build_corpus(args.mb, args.secret_rate)
    clean, _ = build_corpus(args.mb, 0.0, seed=8)
    size = sum(len(r) + 1 for r in records) / 1e6
    print(f"corpus: {size:.1f} MB, {len(records):,} records, {len(planted):,} planted values")

    contenders: list[tuple[str, Callable[[str], str]]] = []
    if args.base:
        base = load_redactor_at(args.base, Path(__file__).resolve().parent.parent)()
        contenders.append((f"llmops Redactor at {args.base}", base.redact))
    contenders += [
        ("llmops Redactor", Redactor().redact),
        ("naive: every regex in sequence", NaiveRedactor().redact),
    ]
    rows = measure(contenders, records, planted, clean)
    presidio = _presidio()
    if presidio is None:
        print(
            "presidio-analyzer: not installed (and its spaCy models need a download this machine cannot make)"
        )
    else:
        small_records, small_planted = build_corpus(args.presidio_mb, args.secret_rate)
        small_clean, _ = build_corpus(args.presidio_mb, 0.0, seed=8)
        rows += measure(
            [("presidio (regex recognizers, no NLP)", presidio)], small_records, small_planted, small_clean
        )

    print(f"{'contender':40} {'blob MB/s':>10} {'records MB/s':>13} {'clean MB/s':>11} {'leaked':>13}")
    for row in rows:
        print(
            f"{row.name:40} {row.blob_mbps:10.1f} {row.records_mbps:13.1f} {row.clean_mbps:11.1f} "
            f"{row.leaked:6}/{row.planted:<6}"
        )


if __name__ == "__main__":
    main()
