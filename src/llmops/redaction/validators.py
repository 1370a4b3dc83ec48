"""Checks that turn a pattern match into a finding: checksums where a format has one, entropy elsewhere."""

from __future__ import annotations

import ipaddress
import math
from collections import Counter

# IBAN length per country (ISO 13616 registry), so a candidate is cut at exactly the right place.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum used by every card network."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position & 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_network(digits: str) -> str | None:
    """The network whose issuer range and length fit `digits`, or None."""
    length = len(digits)
    if not 13 <= length <= 19:
        return None
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and length in (13, 16, 19):
        network = "visa"
    elif p2 in (34, 37) and length == 15:
        network = "amex"
    elif (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and length == 16:
        network = "mastercard"
    elif 2200 <= p4 <= 2204 and length >= 16:
        network = "mir"
    elif (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and length >= 16:
        network = "discover"
    elif 3528 <= p4 <= 3589 and length >= 16:
        network = "jcb"
    elif (300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39)) and length >= 14:
        network = "diners"
    elif p2 == 62 and length >= 16:
        network = "unionpay"
    elif p2 == 50 or 56 <= p2 <= 69:
        network = "maestro"
    else:
        return None
    return network


def is_card_number(digits: str) -> bool:
    return card_network(digits) is not None and luhn_ok(digits)


def iban_ok(compact: str) -> bool:
    """ISO 7064 mod-97 check of an IBAN without spaces, upper-case."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1
    except ValueError:
        return False


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def is_maskable_ip(candidate: str) -> bool:
    """A valid address that could identify someone: loopback and unspecified addresses stay readable."""
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def shannon_entropy(value: str) -> float:
    length = len(value)
    return -sum(count / length * math.log2(count / length) for count in Counter(value).values())


def looks_random(value: str, *, min_length: int = 8, min_entropy: float = 3.0) -> bool:
    """True for token-like values (two of lower/upper/digit, high entropy), False for words and numbers.

    Punctuation does not count as a class, so "instrument." or "prod-db" stay words.
    """
    if len(value) < min_length or sum(char_classes(value)) < 2:
        return False
    return shannon_entropy(value) >= min_entropy


def char_classes(value: str) -> tuple[bool, bool, bool]:
    """(has lower, has upper, has digit): key bodies from a random generator have all of them."""
    return (
        any("a" <= c <= "z" for c in value),
        any("A" <= c <= "Z" for c in value),
        any("0" <= c <= "9" for c in value),
    )
