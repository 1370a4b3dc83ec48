"""Personal data detectors: email, phone, payment card, IBAN, US SSN, IP address.

Each scan starts from a cheap anchor (`@`, `+`, `.`, `::`, a digit run at a token boundary) so clean
text is skipped at C speed; a format is accepted only after its checksum or validity rules pass, and
formats that a plain number could share (bare phone numbers, spaced SSNs) need a keyword before them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from .kinds import Hit, Kind
from .textview import Detector, TextView
from .validators import IBAN_LENGTHS, iban_ok, is_card_number, is_maskable_ip, ssn_ok

_DIGITS = re.compile(r"\d+")


def _longest_valid_prefix(text: str, start: int, end: int, accept: Callable[[str], bool]) -> int | None:
    """End of the longest prefix of `text[start:end]`, cut after a digit group, whose digits `accept`.

    A greedy pattern may run on into a following number ("4111 1111 1111 1111 12/26"); trimming whole
    digit groups from the right recovers the value without a second pattern.
    """
    prefixes: list[tuple[str, int]] = []
    digits = ""
    for group in _DIGITS.finditer(text, start, end):
        digits += group.group()
        prefixes.append((digits, group.end()))
    for candidate, candidate_end in reversed(prefixes):
        if accept(candidate):
            return candidate_end
    return None


def _digit_count_between(low: int, high: int) -> Callable[[str], bool]:
    return lambda digits: low <= len(digits) <= high


_PHONE_DIGITS = _digit_count_between(8, 15)
_PAREN_NATIONAL_DIGITS = _digit_count_between(8, 12)
_CONTEXT_PHONE_DIGITS = _digit_count_between(7, 15)
_NATIONAL_DIGITS = _digit_count_between(9, 12)


# --- email ---------------------------------------------------------------------------------------------

_EMAIL_DOMAIN = re.compile(
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})(?![\w-])"
)
_LOCAL_PUNCTUATION = frozenset("._%+-")
_URL_BREAK = re.compile(r"[\s/?#\"'<>]")


def scan_emails(view: TextView) -> Iterator[Hit]:
    text = view.text
    if view.is_short and "@" not in text:
        return
    for match in _EMAIL_DOMAIN.finditer(text):
        at = match.start()
        start = at
        floor = max(0, at - 64)
        while start > floor and (text[start - 1].isalnum() or text[start - 1] in _LOCAL_PUNCTUATION):
            start -= 1
        while start < at and text[start] == ".":
            start += 1
        if start < at and not _in_url_userinfo(text, start, at):
            yield Hit(start, match.end(), Kind.EMAIL)


def _in_url_userinfo(text: str, start: int, at: int) -> bool:
    """`user:pass@host` inside a URL is a credential, handled by the URL detector, not an email."""
    scheme_end = text.rfind("://", max(0, start - 2048), start)
    return scheme_end != -1 and _URL_BREAK.search(text, scheme_end + 3, at) is None


# --- numbers and IBANs: payment cards, SSN, national phone formats ---------------------------------------

# One pass finds every token that starts with a digit (or "(") or looks like an IBAN. It opens with the
# character before the token so the engine only stops at token boundaries, not at every digit of an id;
# a token at the very start of the text is matched separately. Digits are ASCII: the view folds others.
_CANDIDATE_BODY = r"""
    (?:
        (?=\(?[0-9](?:[\ .()/-]{0,2}[0-9]){8})       # nine digits or more: cheap reject of short numbers
        (?:
            (?P<ssn>[0-9]{3}-[0-9]{2}-[0-9]{4})(?![\w-])
          | (?P<card>[0-9]{4}(?P<sep>[\ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}(?:(?P=sep)[0-9]{1,3})?
                   | [0-9]{4}[\ -][0-9]{6}[\ -][0-9]{4,5}
                   | [0-9]{13,19})(?![\w-])
          | (?P<nanp>(?:1[\ .-]?)?(?:\([2-9][0-9]{2}\)[\ .-]?|[2-9][0-9]{2}[\ .-])[0-9]{3}[\ .-][0-9]{4})
            (?=[xX][0-9]|(?![\w-]))
          | (?P<national>0[0-9]{1,4}(?P<nsep>[\ ./-])[0-9]{2,8}(?:(?P=nsep)[0-9]{2,4}){0,4})(?=[xX][0-9]|(?!\w))
          | (?P<trunk>\(0[0-9]{1,4}\)[\ /-]?[0-9]{2,8}(?:[\ -][0-9]{2,6}){0,4})(?=[xX][0-9]|(?!\w))
        )
      | (?P<iban>[A-Z][A-Z][0-9][0-9](?:\ ?[A-Za-z0-9]){11,34})
    )
"""
# The guard after the boundary (every candidate starts with a digit, "(" or an upper-case letter) lets the
# engine drop most boundaries (spaces before words) with one character test instead of the whole body.
_CANDIDATE_AT_BOUNDARY = re.compile(r"[^A-Za-z0-9_.+\-](?=[0-9(A-Z])" + _CANDIDATE_BODY, re.VERBOSE)
_CANDIDATE_AT_START = re.compile(_CANDIDATE_BODY, re.VERBOSE)


def scan_numbers_and_ibans(view: TextView) -> Iterator[Hit]:
    """Every candidate token, scanning on from where the last one really ended.

    The IBAN pattern reads up to 34 characters with optional spaces, so it runs on into the words that
    follow ("DE89 … 00 and card 5555 …"); the scan resumes where the IBAN's country length ends (or just
    after its first character when it is not one), so nothing it swallowed is skipped.
    """
    text = view.text
    match = _CANDIDATE_AT_START.match(text)
    pos = 0
    while True:
        if match is None:
            match = _CANDIDATE_AT_BOUNDARY.search(text, pos)
            if match is None:
                return
        if match["iban"]:
            start, end = match.span("iban")
            iban_end = _iban_end(text, start, end)
            if iban_end is not None and iban_ok(text[start:iban_end].replace(" ", "").upper()):
                yield Hit(start, iban_end, Kind.IBAN)
                pos = iban_end
            else:
                pos = start + 1
        else:
            yield from _number(text, match)
            pos = match.end()
        match = None


def _number(text: str, match: re.Match[str]) -> Iterator[Hit]:
    if match["ssn"]:
        start, end = match.span("ssn")
        area, group, serial = text[start:end].split("-")
        if ssn_ok(area, group, serial):
            yield Hit(start, end, Kind.SSN)
    elif match["card"]:
        start, end = match.span("card")
        card_end = _longest_valid_prefix(text, start, end, is_card_number)
        if card_end is not None:
            yield Hit(start, card_end, Kind.CREDIT_CARD)
    elif match["nanp"]:
        start, end = match.span("nanp")
        yield Hit(start, extension_end(text, end), Kind.PHONE)
    elif match["trunk"]:  # "(030) 1234567": the trunk prefix in parentheses
        start, end = match.span("trunk")
        if _PAREN_NATIONAL_DIGITS("".join(_DIGITS.findall(text, start, end))):
            yield Hit(start, extension_end(text, end), Kind.PHONE)
    else:
        start, end = match.span("national")
        if _NATIONAL_DIGITS("".join(_DIGITS.findall(text, start, end))):
            yield Hit(start, extension_end(text, end), Kind.PHONE)


def _iban_end(text: str, start: int, end: int) -> int | None:
    """Where the IBAN that starts at `start` ends: its country's length, spaces not counted."""
    length = IBAN_LENGTHS.get(text[start : start + 2])
    taken = 0
    for pos in range(start, end):
        if text[pos] != " ":
            taken += 1
            if taken == length:
                return None if pos + 1 < len(text) and text[pos + 1].isalnum() else pos + 1
    return None


# An extension after a number ("x1234", "ext. 12", ", extension 4") dials the same person: it goes too.
_EXTENSION = re.compile(
    r"[\ \t]*,?[\ \t]*(?:x|ext|extn|extension)\.?[\ \t]*(?:no\.?|nr\.?|\#|:)?[\ \t]*[0-9]{1,6}(?!\w)",
    re.IGNORECASE,
)
# Where a phone pattern may end: not inside a word, except for an extension glued on ("555-0134x12").
_PHONE_END = r"(?=[xX][0-9]|(?!\w))"


def extension_end(text: str, end: int) -> int:
    """Where a phone number that ends at `end` really ends: after its extension, if one follows."""
    if end < len(text) and text[end] in " \t,xXeE":
        extension = _EXTENSION.match(text, end)
        if extension:
            return extension.end()
    return end


_INTERNATIONAL_PHONE = re.compile(r"\+(?<![\w+/=]\+)\(?\d[\d .()/-]{5,24}\d" + _PHONE_END)


def scan_international_phones(view: TextView) -> Iterator[Hit]:
    text = view.text
    if view.is_short and "+" not in text:
        return
    for match in _INTERNATIONAL_PHONE.finditer(text):
        end = _longest_valid_prefix(text, match.start(), match.end(), _PHONE_DIGITS)
        if end is not None:
            yield Hit(match.start(), extension_end(text, end), Kind.PHONE)


# A bare digit string is a phone number when a word that says so comes first: a noun ("tel", "mobile") or
# a verb ("call", "reach", "SMS", "text"), with at most four small words between ("call me back on",
# "reach us at", "phone number is"). Only these may come between, so "call about order 1234567890" stays.
_PHONE_FILLER = (
    r"me|us|him|her|them|you|back|my|our|his|their|the|this|on|at|to|via|is|are|under|number|numbers|no|nr"
    r"|num|anytime|directly|now|today|tonight|tomorrow|please|mobile|cell|phone|office|desk|line|landline"
    r"|home|work|direct|private"
)
_PHONE_CONTEXT = re.compile(
    rf"""(?:(?:tele)?phon(?:e|es|ed|ing)|tel|mobile|cell(?:phone)?|fax|call(?:s|ed|ing)?|sms|texts?
           |reach(?:ed|ing|able)?)s?\b\.?
        (?:[\ \t]*[:=\#,-]?[\ \t]*(?:(?:{_PHONE_FILLER})\b|\#)\.?){{0,4}}
        [\ \t]*[:=\#-]?[\ \t]*
        (?P<number>\+?\(?\d[\d\ .()/-]{{5,20}}\d){_PHONE_END}""",
    re.IGNORECASE | re.VERBOSE,
)
# Words that name a number (all found in the one keyword pass of `TextView`).
_PHONE_WORDS = ("phon", "tel", "mobile", "cell", "fax", "call", "sms", "text", "reach")
# Everything `_PHONE_CONTEXT` reads before the number's first digit is one of these characters (letters
# as IGNORECASE matches them, blanks, separators), so the first other character after the word must be a
# digit for the pattern to match: one C-speed search rules out "call about the renewal…" cheaply.
_BEFORE_PHONE_NUMBER = re.compile("[^A-Za-z\u0130\u0131\u017f\u212a \t:=#,.+(-]")


def scan_phones_in_context(view: TextView) -> Iterator[Hit]:
    """Bare digit strings are phone numbers only after a word that says so ("tel: 4155550132")."""
    text = view.text
    for word in view.words_present(_PHONE_WORDS):
        stop = -1  # the first character after the last word not allowed before a number (len: none)
        for pos in view.find_all(word):
            if pos and text[pos - 1].isalpha():
                continue
            if pos > stop:  # reused while the words come before it, so the scan stays linear
                found = _BEFORE_PHONE_NUMBER.search(text, pos)
                stop = found.start() if found else len(text)
            if stop == len(text) or not text[stop].isdigit():
                continue
            match = _PHONE_CONTEXT.match(text, pos)
            if match:
                start = match.start("number")
                end = _longest_valid_prefix(text, start, match.end("number"), _CONTEXT_PHONE_DIGITS)
                if end is not None:
                    yield Hit(start, extension_end(text, end), Kind.PHONE)


_SSN_CONTEXT = re.compile(
    r"""(?:ssn|social\ security(?:\ number|\ no\.?)?)s?\b[\ \t\#:=.-]*(?:is[\ \t]+)?
        (?P<area>\d{3})[\ -]?(?P<group>\d{2})[\ -]?(?P<serial>\d{4})(?![\w-])""",
    re.IGNORECASE | re.VERBOSE,
)


def scan_ssns_in_context(view: TextView) -> Iterator[Hit]:
    """Spaced or unseparated SSNs look like any nine digits, so they need "SSN" or "social security" first."""
    text = view.text
    for word in view.words_present(("ssn", "social security")):
        for pos in view.find_all(word):
            if pos and text[pos - 1].isalnum():
                continue
            match = _SSN_CONTEXT.match(text, pos)
            if match and ssn_ok(match["area"], match["group"], match["serial"]):
                yield Hit(match.start("area"), match.end(), Kind.SSN)


# --- IP addresses ---------------------------------------------------------------------------------------

_IPV4_TAIL = re.compile(r"\.(?<=\d\.)\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\d)")
_VERSION_BEFORE = re.compile(r"\b(?:version|ver|release|build)[\s:=]*\Z")


def scan_ipv4(view: TextView) -> Iterator[Hit]:
    text = view.text
    if view.is_short and "." not in text:
        return
    for match in _IPV4_TAIL.finditer(text):
        start = match.start()
        while start > match.start() - 3 and start > 0 and text[start - 1].isdigit():
            start -= 1
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._-"):
            continue
        if _VERSION_BEFORE.search(view.lower, max(0, start - 12), start):
            continue
        if is_maskable_ip(text[start : match.end()]):
            yield Hit(start, match.end(), Kind.IP_ADDRESS)


_IPV6_TRIGGER = re.compile(r":(?::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:)")
_IPV6_BODY = re.compile(
    r"(?:[0-9A-Fa-f]{0,4}:){2,8}(?:\d{1,3}(?:\.\d{1,3}){3}(?![\d.])|[0-9A-Fa-f]{1,4})?(?P<zone>%[\w.-]+)?"
)
_HEX_OR_COLON = frozenset("0123456789abcdefABCDEF:")


def scan_ipv6(view: TextView) -> Iterator[Hit]:
    text = view.text
    if view.is_short and ":" not in text:
        return
    covered = 0
    for trigger in _IPV6_TRIGGER.finditer(text):
        start = trigger.start()
        if start < covered:
            continue
        while start > 0 and text[start - 1] in _HEX_OR_COLON and trigger.start() - start < 40:
            start -= 1
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_."):
            continue
        body = _IPV6_BODY.match(text, start)
        if body is None or _glued_to_word(text, body.end()):
            continue
        covered = body.end()
        address_end = body.start("zone") if body["zone"] else body.end()
        if is_maskable_ip(text[start:address_end]):
            yield Hit(start, body.end(), Kind.IP_ADDRESS)


def _glued_to_word(text: str, end: int) -> bool:
    return end < len(text) and (text[end].isalnum() or text[end] == "_")


DETECTORS: tuple[Detector, ...] = (
    scan_emails,
    scan_numbers_and_ibans,
    scan_international_phones,
    scan_phones_in_context,
    scan_ssns_in_context,
    scan_ipv4,
    scan_ipv6,
)
