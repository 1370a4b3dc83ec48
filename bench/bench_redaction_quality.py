"""Masking quality: recall per kind of planted value and false positives per kind of identifier, for this
tree's Redactor side by side with the Redactor of a base commit (the one before issue 10, item 9).

Run: `.venv/bin/python bench/bench_redaction_quality.py [--base REV] [--n 400] [--seed 11]`

The corpus is generated from a fixed seed: each planted value sits in an ordinary sentence, and recall is
the share of values that do not survive (the value no longer appears in the output). Each identifier
(hashes, UUIDs, trace and span ids, versions, prices, ports, dates, timestamps, order numbers not next to
a phone word, and a few names shaped like secrets) sits in a sentence too, and a false positive is an
identifier the output no longer holds intact. The base Redactor is read with `git show REV:…` into a
temporary package, so nothing in the work tree changes.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from bench_redaction import BASELINE_REV, load_redactor_at
from llmops.redaction import Redactor

LOWER, UPPER, DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
ALNUM = LOWER + UPPER + DIGITS
URLSAFE = ALNUM + "-_"
PASSWORD_SYMBOLS = "!#$%&*+=?@^~"
# No phone word ("call", "reach", "text", ...) in the prose, so an order number is never next to one.
PROSE = (Path(__file__).resolve().parents[1] / "samples" / "prose_words.txt").read_text().split()

Maker = Callable[[random.Random], tuple[str, str]]  # (sentence, the value that must not survive)


def _words(rng: random.Random, low: int = 2, high: int = 7) -> str:
    return " ".join(rng.choice(PROSE) for _ in range(rng.randint(low, high)))


def _sentence(rng: random.Random, carrier: str) -> str:
    return f"{_words(rng).capitalize()} {carrier} {_words(rng)}{rng.choice(['.', '', '!', '?'])}"


def _digits(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(size))


def _nanp(rng: random.Random) -> str:
    area, exchange, line = rng.randint(200, 999), rng.randint(200, 999), _digits(rng, 4)
    return rng.choice(
        ["({}) {}-{}", "({}){}-{}", "({})-{}-{}", "{}-{}-{}", "{}.{}.{}", "+1 {} {} {}"]
    ).format(area, exchange, line)


def _with_extension(rng: random.Random) -> str:
    extension = rng.choice([" x", "x", " ext. ", " ext ", ", extension ", " Ext."]) + str(
        rng.randint(1, 99999)
    )
    return (_nanp(rng) if rng.random() < 0.7 else f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}") + extension


def _trunk(rng: random.Random) -> str:
    area = _digits(rng, rng.randint(1, 3))
    rest = _digits(rng, 7)
    return f"(0{area}) {rest}" if rng.random() < 0.6 else f"(0{area}) {rest[:3]} {rest[3:]}"


def _national(rng: random.Random) -> str:
    return f"0{_digits(rng, rng.randint(2, 3))} {_digits(rng, rng.randint(6, 8))}"


PHONE_PHRASES = [
    "call", "Call me at", "call us on", "please call me back on", "SMS", "sms to", "text me at", "reach me on",
    "you can reach us at", "phone", "Phone:", "tel.", "Tel:", "mobile", "my cell is", "call my mobile",
]  # fmt: skip


def _phone_in_context(rng: random.Random) -> tuple[str, str]:
    number = _digits(rng, rng.randint(9, 11))
    return _sentence(rng, f"{rng.choice(PHONE_PHRASES)} {number}"), number


def _password(rng: random.Random) -> str:
    size = rng.randint(12, 24)
    chars = [rng.choice(alphabet) for alphabet in (LOWER, UPPER, DIGITS)]
    chars += [rng.choice(ALNUM + PASSWORD_SYMBOLS + "-_.") for _ in range(size - 4)]
    rng.shuffle(chars)
    chars.insert(rng.randint(1, size - 2), rng.choice(PASSWORD_SYMBOLS))
    return "".join(chars)


def _random_token(rng: random.Random, size: int, alphabet: str = ALNUM) -> str:
    chars = [rng.choice(LOWER), rng.choice(UPPER), rng.choice(DIGITS)]
    chars += [rng.choice(alphabet) for _ in range(size - 3)]
    rng.shuffle(chars)
    return "".join(chars)


def _b64url_json(rng: random.Random, payload: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _jwt_parts(rng: random.Random) -> tuple[str, str]:
    header = _b64url_json(rng, {"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"})
    payload = _b64url_json(rng, {"sub": _digits(rng, 8), "name": rng.choice(["Anna", "Tom", "Mei"])})
    return header, payload


def _jwt_no_signature(rng: random.Random) -> str:
    header, payload = _jwt_parts(rng)
    return f"{header}.{payload}" + rng.choice(["", "."])


def _jwt_cut_signature(rng: random.Random) -> str:
    header, payload = _jwt_parts(rng)
    return f"{header}.{payload}.{_random_token(rng, rng.randint(3, 20), URLSAFE)}"


def _jwt_ellipsis(rng: random.Random) -> str:
    header, payload = _jwt_parts(rng)
    cut = rng.choice(["....", "...", "…"])
    return f"{header[: rng.randint(8, 12)]}{cut}{payload[: rng.randint(8, 12)]}{rng.choice(['...', '…', ''])}"


def _luhn(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


def _plain(make: Callable[[random.Random], str], intros: list[str]) -> Maker:
    def maker(rng: random.Random) -> tuple[str, str]:
        value = make(rng)
        return _sentence(rng, f"{rng.choice(intros)} {value}".strip()), value

    return maker


PHONE_INTROS = ["", "Office", "our Berlin office:", "support line", "desk", "switchboard", "(mornings)"]
PLANTED: dict[str, Maker] = {
    # the gaps of issue 10, item 9
    "phone with extension": _plain(_with_extension, PHONE_INTROS),
    "phone (030) 1234567": _plain(_trunk, PHONE_INTROS),
    "phone (415) 555-0134": _plain(_nanp, PHONE_INTROS),
    "phone 0171 2345678": _plain(_national, PHONE_INTROS),
    "phone: word + 9-11 digits": _phone_in_context,
    "secret: password as subject": _plain(_password, ["Subject:", "subject", "pw", ""]),
    "secret: 40 base62 alone": _plain(lambda rng: _random_token(rng, 40), ["", "see", "copied"]),
    "secret: 32-64 base64url": _plain(lambda rng: _random_token(rng, rng.randint(32, 64), URLSAFE), [""]),
    "jwt: no signature": _plain(_jwt_no_signature, ["", "got", "debug"]),
    "jwt: cut signature": _plain(_jwt_cut_signature, ["", "got", "debug"]),
    "jwt: segments cut (....)": _plain(_jwt_ellipsis, ["", "got", "debug"]),
    # kinds that were already masked: must stay so
    "email": _plain(lambda rng: f"{rng.choice(PROSE)}.{_digits(rng, 3)}@example-corp.com", ["mail", ""]),
    "card": _plain(lambda rng: _luhn(*rng.choice([("4", 16), ("51", 16), ("37", 15)]), rng), ["card", ""]),
    "international phone": _plain(lambda rng: f"+49 30 {_digits(rng, 7)}", PHONE_INTROS),
    "ipv4": _plain(
        lambda rng: f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", ["from"]
    ),
    "api key": _plain(lambda rng: "sk-proj-" + _random_token(rng, 48), ["key", ""]),
}


def _hex(rng: random.Random, size: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(size))


IDENTIFIERS: dict[str, Callable[[random.Random], str]] = {
    "git sha": lambda rng: _hex(rng, rng.choice([7, 12, 40])),
    "sha256 hex": lambda rng: rng.choice(["", "sha256:"]) + _hex(rng, 64),
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "trace id (32 hex)": lambda rng: _hex(rng, 32),
    "span id (16 hex)": lambda rng: _hex(rng, 16),
    "semantic version": lambda rng: (
        rng.choice(["", "v", "V"])
        + f"{rng.randint(0, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}"
        + rng.choice(["", "-rc.1", "+build.5", "-beta.2+Exp.sha.5114f85"])
    ),
    "price": lambda rng: (
        rng.choice(["$", "€", "£", "USD "]) + f"{rng.randint(1, 999_999):,}.{rng.randint(0, 99):02d}"
    ),
    "port": lambda rng: rng.choice(["localhost:", "db.internal:", "port ", ":"]) + str(rng.randint(1, 65535)),
    "date": lambda rng: rng.choice(
        ["{y}-{m:02d}-{d:02d}", "{d:02d}.{m:02d}.{y}", "{m:02d}/{d:02d}/{y}"]
    ).format(y=rng.randint(1990, 2035), m=rng.randint(1, 12), d=rng.randint(1, 28)),
    "timestamp": lambda rng: rng.choice(
        [
            f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z",
            f"2024-05-01 {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d},{_digits(rng, 3)}",
            str(rng.randint(1_500_000_000, 1_900_000_000)),
            str(rng.randint(1_500_000_000_000, 1_900_000_000_000)),
        ]
    ),
    "order number": lambda rng: rng.choice(
        [
            f"order {_digits(rng, rng.randint(9, 11))}",
            f"ORD-2024-{_digits(rng, 6)}",
            f"invoice #{_digits(rng, rng.randint(9, 11))}",
            f"INV-{_digits(rng, 12)}",
            _digits(rng, rng.randint(9, 11)),
        ]
    ),
    # not in the brief's list, but shaped like what the new rules look for
    "model / package name": lambda rng: rng.choice(
        [
            "SmolLM2-135M-Instruct",
            "Llama-3.1-8B-Instruct-Q4_K_M.gguf",
            "gpt-4o-mini-2024-07-18",
            "Python3.11.7",
        ]
    ),
    "camelCase name": lambda rng: (
        rng.choice(["get", "set", "fetch", "Abstract"])
        + "".join(
            rng.choice(["User", "Account", "Balance", "Proxy", "Factory", "Order", "Quarter"])
            for _ in range(4)
        )
        + str(rng.randint(1, 2024))
    ),
    "url with query": lambda rng: (
        f"https://example.com/v{rng.randint(1, 3)}/Report?id={rng.randint(1, 9999)}"
        f"&Lang=en&page={rng.randint(1, 99)}"
    ),
    "mention / tag": lambda rng: (
        rng.choice(["@", "#"])
        + rng.choice(["Anna", "TomBecker", "Release", "MeiChen"])
        + str(rng.randint(1, 2024))
    ),
    "short base64": lambda rng: base64.b64encode(
        " ".join(rng.choice(PROSE) for _ in range(3)).encode()
    ).decode(),
}


def measure(redact: Callable[[str], str], n: int, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    recall: dict[str, float] = {}
    for index, (kind, make) in enumerate(PLANTED.items()):
        rng = random.Random(seed * 1000 + index)
        samples = [make(rng) for _ in range(n)]
        recall[kind] = sum(value not in redact(text) for text, value in samples) / n
    false_positives: dict[str, float] = {}
    for index, (kind, make) in enumerate(IDENTIFIERS.items()):
        rng = random.Random(seed * 1000 + 500 + index)
        identifiers = [make(rng) for _ in range(n)]
        false_positives[kind] = (
            sum(identifier not in redact(_sentence(rng, identifier)) for identifier in identifiers) / n
        )
    return recall, false_positives


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=BASELINE_REV, help="git revision of the Redactor to compare with")
    parser.add_argument("--n", type=int, default=400, help="samples per kind")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    repo = Path(__file__).resolve().parent.parent
    base = load_redactor_at(args.base, repo)()
    new = Redactor()
    base_recall, base_fp = measure(base.redact, args.n, args.seed)
    new_recall, new_fp = measure(new.redact, args.n, args.seed)

    print(f"{args.n} samples per kind, seed {args.seed}; base = {args.base}, new = this tree")
    print(f"\n{'recall: planted value masked':34} {'base':>8} {'new':>8}")
    for kind in PLANTED:
        print(f"{kind:34} {base_recall[kind]:8.1%} {new_recall[kind]:8.1%}")
    print(f"\n{'false positives: identifier changed':34} {'base':>8} {'new':>8}")
    for kind in IDENTIFIERS:
        print(f"{kind:34} {base_fp[kind]:8.1%} {new_fp[kind]:8.1%}")
    brief = list(IDENTIFIERS)[: list(IDENTIFIERS).index("order number") + 1]
    for label, kinds in (("all identifiers of the brief", brief), ("all identifiers", list(IDENTIFIERS))):
        base_all = sum(base_fp[kind] for kind in kinds) / len(kinds)
        new_all = sum(new_fp[kind] for kind in kinds) / len(kinds)
        print(f"{label:34} {base_all:8.1%} {new_all:8.1%}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
