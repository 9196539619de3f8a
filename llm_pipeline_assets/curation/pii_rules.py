"""The checks behind :mod:`llm_pipeline_assets.curation.pii`: context words, card prefixes and groupings, Luhn.

Each validator gets a candidate and a callable for the (scrubbed) text before it, and says whether the
candidate is the kind of PII its branch names.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable

# Context that turns a number into an identifier rather than a phone/card number.
_NEG_CONTEXT = re.compile(
    r"(?i)(?:\b(?:order|invoice|inv|isbn(?:-?1[03])?|tracking|track|ref|reference|sku|serial"
    r"|receipt|confirmation|po)\b[\s:#.\-]*(?:no\.?|nr\.?|num(?:ber)?\.?|id)?[\s:#.\-]*|#\s*)$")
# Words that make a bare 10-digit number a phone (up to two words between); not "[PHONE]".
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?<!\[)(?:phone|tel|telephone|mobile|cell|fax|call|text|sms|whatsapp|contact)\b"
    r"(?:\W+\w+){0,2}?\W*$")
# A dotted quad after these is a version or a section number ("Section 10.1.2.3", "§ 14.9.1.2"), not an address.
_VERSION_CONTEXT = re.compile(
    r"(?i)(?:\b(?:v|ver|version|release|build|firmware|section|sec|clause|chapter|ch|figure|fig|table|theorem"
    r"|lemma|corollary|definition|def|step|rule|article|art|part|paragraph|para|appendix|app|eq|equation|item)"
    r"\.?|§)\s*[:=]?\s*$")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\W*$")
_NON_DIGIT = re.compile(r"\D")


def _mark_ranges() -> str:
    """A regex class body of the Unicode combining marks (Mn, Mc, Me): ``\\w`` leaves them out, and Indic, Thai or
    Hebrew words need them inside an address ("मनोज@example.com" kept "मनो" before)."""
    import unicodedata

    ranges, start = [], None
    for code in range(0x300, 0x30000):
        mark = unicodedata.category(chr(code)) in ("Mn", "Mc", "Me")
        if mark and start is None:
            start = code
        elif not mark and start is not None:
            ranges.append(f"\\u{start:04x}-\\u{code - 1:04x}" if code - 1 <= 0xFFFF else
                          f"\\U{start:08x}-\\U{code - 1:08x}")
            start = None
    return "".join(ranges)


#: word-internal characters an address may hold beside ``\w``: combining marks, ZWNJ and ZWJ (Persian, Indic spelling)
ADDRESS_MARKS = _mark_ranges() + "\\u200c\\u200d"


_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit d -> digit sum of 2*d


def _luhn_ok(digits: str) -> bool:
    odd = sum(int(d) for d in digits[-1::-2])
    even = sum(_LUHN_DOUBLE[int(d)] for d in digits[-2::-2])
    return (odd + even) % 10 == 0


# Validators get the candidate and a callable for the (scrubbed) text before it.
_Context = Callable[[], str]


# Issuer prefixes of the card networks (Visa, Mastercard, Amex, Diners, JCB, Discover, UnionPay, Maestro).
_CARD_PREFIX = re.compile(r"4|5[0-8]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|30[0-5]|3[689]"
                          r"|35(?:2[89]|[3-8]\d)|6(?:011|4[4-9]|[235]|7)")
# How printed card numbers are grouped: 4-4-4-4 (16), 4-4-4-4-3 (19), 4-6-5 (Amex), 4-6-4 (Diners), 15 and 13.
_CARD_GROUPS = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 3), (4, 4, 5)}
_CARD_SEP = re.compile(r"[ \-]")


def _card_ok(v: str, ctx: _Context) -> bool:
    """Luhn-valid, a network's prefix and, when grouped, a card's grouping: a run of years or a table row of
    4-digit numbers ("2001 2002 2003 2004 2005") is not a card even where a prefix of it passes Luhn."""
    digits = _NON_DIGIT.sub("", v)
    if not (13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and _luhn_ok(digits)):
        return False
    groups = tuple(len(g) for g in _CARD_SEP.split(v))
    return (len(groups) == 1 or groups in _CARD_GROUPS) and not _NEG_CONTEXT.search(ctx())


def _phone_ok(v: str, ctx: _Context) -> bool:
    n = len(_NON_DIGIT.sub("", v))
    return 8 <= n <= 15 and not _NEG_CONTEXT.search(ctx())


def _bare_phone_ok(v: str, ctx: _Context) -> bool:
    return bool(_PHONE_CONTEXT.search(ctx()))


def _national_phone_ok(v: str, ctx: _Context) -> bool:
    return 9 <= len(_NON_DIGIT.sub("", v)) <= 13 and _bare_phone_ok(v, ctx)


def _ssn_context_ok(v: str, ctx: _Context) -> bool:
    return bool(_SSN_CONTEXT.search(ctx()))


def _ipv4_ok(v: str, ctx: _Context) -> bool:
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        return False
    return not _VERSION_CONTEXT.search(ctx()[-20:])


def _ipv6_ok(v: str, ctx: _Context) -> bool:
    try:
        ipaddress.IPv6Address(v)
    except ValueError:
        return False
    return any(c.isdigit() for c in v) and sum(1 for g in v.split(":") if g) >= 2


def _looks_random(v: str, ctx: _Context) -> bool:
    return any(c.isdigit() for c in v) or (
        len(v) >= 20 and any(c.isupper() for c in v) and any(c.islower() for c in v))
