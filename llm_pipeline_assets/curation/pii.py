"""PII and secret scrubbing: replace personal data and credentials with typed placeholders.

Framework-free, standard library only.  :func:`find_pii` returns the detections as
:class:`PiiMatch` spans; :func:`scrub_pii` / :func:`scrub_pii_with_counts` only splice the
placeholder ``[KIND]`` over those spans, so text outside them is never touched.
Kinds (:data:`PII_KINDS`): EMAIL, PHONE, SSN, CREDIT_CARD, IP_ADDRESS, AWS_KEY, GITHUB_TOKEN,
SLACK_TOKEN, BEARER_TOKEN, PRIVATE_KEY.

Design: the candidate patterns are compiled once, at import, into one alternation scanned in a
single left-to-right pass behind ``(?<!\\w)`` (no candidate starts inside a word), each run of
branches behind a one-character lookahead gate, and the e-mail branch is dropped when the text
has no "@".  A candidate is then checked in Python (Luhn, ``ipaddress``, context words); if the
check fails, the branches after it are tried at the same offset, and space-grouped numbers
(cards, international phones) may drop trailing groups ("+44 20 7946 0958 2024" -> phone).

Rules:

* CREDIT_CARD: 13-19 digits, contiguous or grouped by one consistent space/dash as cards are printed
  (4-4-4-4, 4-6-5, ...), a card network's prefix (Visa/MC/Amex/Discover/JCB/Diners/UnionPay/Maestro),
  Luhn-valid; otherwise left alone (a run of years "2001 2002 2003 2004" stays).
* PHONE: NANP numbers need separators (555-123-4567, (555) 123-4567, 555.123.4567,
  +1 555 123 4567) and an area code starting 2-9; ``+CC`` numbers need 8-15 digits (E.164), a
  trunk "(0)" allowed.  A bare 10-digit run, or a national number starting 0 ("020 7946 0958"),
  counts only after a phone word ("tel", "call me at").  Cards and phones are skipped after
  order/invoice/ISBN/tracking/ref/sku/"#" context.
* SSN: ddd-dd-dddd, area not 000/666/9xx, group not 00, serial not 0000; after "SSN" or "social
  security number" also "ddd dd dddd" and nine bare digits.
* IP_ADDRESS: a dotted quad is IPv4 only if ``ipaddress`` accepts it (octets 0-255, no
  leading zeros), it is not glued to a letter, digit or dot (``v10.4.1.2``, ``1.2.3.4.5``
  stay) and it does not follow a version or section word (version, v, release, build, firmware,
  section, §, theorem, clause, figure, table, ...: ``Section 10.1.2.3`` stays).  IPv6 must be
  accepted by ``ipaddress``, contain a digit and have two or more non-empty groups (times, MAC
  addresses, ``std::`` and ``::1`` stay).
* BEARER_TOKEN keeps the word "Bearer"; ``aws_secret_access_key = ...`` keeps the key name;
  both values must look random (a digit, or mixed case and 20+ characters).
* PRIVATE_KEY is the whole BEGIN..END block; a block cut off before END is scrubbed through
  its last base64 line.

Idempotence: placeholders match nothing; context words are read from the already-scrubbed
prefix; and nothing may start right after a match or a "]" (a placeholder's end).
No ``str`` input raises (NULs, lone surrogates, multi-megabyte strings).

Throughput on plain English prose without PII (CPython 3.11, one core of the dev machine):
about 20 MB/s, and about 16 MB/s when the text contains an "@".  Pathological input such as
a table of 4-digit groups is much slower (about 0.7 MB/s) but stays linear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

__all__ = ["PII_KINDS", "PiiMatch", "find_pii", "scrub_pii", "scrub_pii_with_counts"]

PII_KINDS: Tuple[str, ...] = ("EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IP_ADDRESS", "AWS_KEY",
                              "GITHUB_TOKEN", "SLACK_TOKEN", "BEARER_TOKEN", "PRIVATE_KEY")


@dataclass(frozen=True)
class PiiMatch:
    """One detected span: ``text[start:end] == value``, replaced by ``[kind]``."""

    start: int
    end: int
    kind: str
    value: str


from llm_pipeline_assets.curation.pii_rules import (  # noqa: F401  (the validators the branches name)
    ADDRESS_MARKS, _bare_phone_ok, _card_ok, _Context, _ipv4_ok, _ipv6_ok, _looks_random, _national_phone_ok, _phone_ok,
    _ssn_context_ok)


_Validator = Callable[[str, _Context], bool]
# (group name, kind, pattern, validator, value group or None, may drop trailing groups).
# Order is priority: at one offset the first branch that matches and validates wins.
_HEX = r"[0-9A-Fa-f]"
_BRANCHES: List[Tuple[str, str, str, Optional[_Validator], Optional[str], bool]] = [
    # A PEM body never contains "-----", so the scan for END stops at the next armour line.
    ("private_key", "PRIVATE_KEY",
     r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[^-]++|-(?!----))*+"
     r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----", lambda v, c: len(v) <= 65536, None, False),
    ("private_key_cut", "PRIVATE_KEY",  # cut off before END: header plus the base64 lines
     r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/=]{16,})*",
     None, None, False),
    ("aws_secret", "AWS_KEY",
     r"(?i:aws_?secret_?access_?key)[\"']?[ \t]*[:=][ \t]*[\"']?"
     r"(?P<aws_secret_v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=\[])", _looks_random, "aws_secret_v", False),
    ("aws_key", "AWS_KEY", r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", None, None, False),
    ("gh_token", "GITHUB_TOKEN", r"gh[pousr]_[A-Za-z0-9]{36,}", None, None, False),
    ("gh_pat", "GITHUB_TOKEN", r"github_pat_[A-Za-z0-9_]{22,}", None, None, False),
    ("slack", "SLACK_TOKEN", r"xox[baprs]-[A-Za-z0-9-]{10,}", None, None, False),
    ("bearer", "BEARER_TOKEN",
     r"(?i:bearer)[ \t]+(?P<bearer_v>[A-Za-z0-9\-._~+/]{7,}[A-Za-z0-9\-_~+/]=*)",
     lambda v, c: len(v) >= 12 and _looks_random(v, c), "bearer_v", False),
    ("email", "EMAIL",  # ASCII text; other text takes _EMAIL_INTL (below) in its place
     r"(?<![.%+\-])[\w.%+\-]{1,64}+@(?:[A-Za-z0-9\-]++\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9\-]{2,59})(?![\w\-])",
     None, None, False),
    ("card_flat", "CREDIT_CARD", r"(?<![.,\-])\d{13,19}(?!\d|\.\d)", _card_ok, None, False),
    ("card_grouped", "CREDIT_CARD",
     r"(?<![.,\-])\d{4}(?P<card_sep>[ \-])\d{2,6}(?:(?P=card_sep)\d{2,7}){1,3}(?!\d|\.\d)",
     _card_ok, None, True),
    ("ssn", "SSN",
     r"(?<![.\-])(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)", None, None, False),
    ("ssn_named", "SSN",  # "SSN: 123 45 6789", "social security number 123456789"
     r"(?<![\d.\-])(?!000|666|9)\d{3} ?(?!00)\d{2} ?(?!0000)\d{4}(?!\d)", _ssn_context_ok, None, False),
    ("phone_us", "PHONE",
     r"(?<![+.\-])(?:\+?1[ .\-]?)?(?:\([2-9]\d\d\)[ .\-]?|[2-9]\d\d[ .\-])\d{3}[ .\-]\d{4}"
     r"(?!\d|\.\d)", _phone_ok, None, False),
    ("phone_e164", "PHONE", r"(?<![+/])\+[1-9]\d{7,14}(?!\d)", _phone_ok, None, False),
    ("phone_intl", "PHONE",
     r"(?<![+/])\+[1-9]\d{0,2}(?:[ .\-]?\(\d{1,4}\)[ .\-]?\d{1,8})?(?:[ .\-]\d{1,8}){1,6}(?!\d|\.\d)",
     _phone_ok, None, True),
    ("phone_bare", "PHONE", r"(?<![+.\-])(?:\+?1)?[2-9]\d{9}(?!\d|\.\d)", _bare_phone_ok,
     None, False),
    ("phone_national", "PHONE",  # after a phone word: "Tel 020 7946 0958", "call 07700 900123", "Fax 0049 30 1234567"
     r"(?<![\d+.\-/])0\d{1,4}(?:[ .\-]?\d{2,8}){1,4}(?!\d|\.\d)", _national_phone_ok, None, False),
    ("ipv4", "IP_ADDRESS", r"(?<!\.)(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)", _ipv4_ok, None, False),
    ("ipv6", "IP_ADDRESS",
     rf"(?<![:.])(?:{_HEX}{{0,4}}:){{2,7}}(?:\d{{1,3}}(?:\.\d{{1,3}}){{3}}(?![\d.])|{_HEX}{{0,4}})"
     r"(?![\w:\[]|\.\d)", _ipv6_ok, None, False),
]

# First characters each run of branches can start with; a cheap lookahead skips the run.
_GATES = {"private_key": r"\-", "aws_secret": "aAgxbB", "email": "", "card_flat": r"\d+(",
          "ipv6": r"\dA-Fa-f:"}


# Non-ASCII text: internationalized addresses ("jürgen@münchen.de", "иван@почта.рф", "मनोज@example.com"), whose
# words hold combining marks and ZWNJ/ZWJ. Only for such text: the large character class costs ASCII text ~30 %.
_EMAIL_INTL = (rf"(?<![.%+\-])[\w.%+\-{ADDRESS_MARKS}]{{1,64}}+@(?:(?:[^\W_]|[\-{ADDRESS_MARKS}])++\.)+"
               rf"(?:(?:[^\W\d_]|[{ADDRESS_MARKS}]){{2,63}}|xn--[A-Za-z0-9\-]{{2,59}})(?![\w\-{ADDRESS_MARKS}])")


def _combine(names: List[str], overrides: dict | None = None) -> "re.Pattern[str]":
    runs: List[Tuple[str, List[str]]] = []
    for name, _, pattern, *_ in (b for b in _BRANCHES if b[0] in names):
        pattern = (overrides or {}).get(name, pattern)
        if name in _GATES or not runs:
            runs.append((_GATES.get(name, ""), []))
        runs[-1][1].append(f"(?P<{name}>{pattern})")
    alts = [(f"(?=[{gate}])" if gate else "") + "(?:" + "|".join(body) + ")"
            for gate, body in runs]
    # Every branch also requires (?<!\w): no candidate starts in the middle of a word.
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + ")")


_NAMES = [b[0] for b in _BRANCHES]
_COMBINED = _combine(_NAMES)
_COMBINED_NO_EMAIL = _combine([n for n in _NAMES if n != "email"])  # most text has no "@"
_COMBINED_INTL = _combine(_NAMES, {"email": _EMAIL_INTL})
# _TAIL[n]: the branches after n, tried at the same offset when n's candidate is rejected.
_TAIL = {n: _combine(_NAMES[i + 1:]) for i, n in enumerate(_NAMES[:-1])}
_SINGLE = {n: _combine([n]) for n in _NAMES}  # used to re-match a shortened candidate
_INFO = {b[0]: b for b in _BRANCHES}


def _context(text: str, start: int, found: List[PiiMatch], width: int = 40) -> str:
    """The ``width`` characters before ``start`` as they read *after* scrubbing.

    Context words are judged on the scrubbed prefix, so a second pass over the output sees
    exactly the same context (this is what keeps scrubbing idempotent).
    """
    parts: List[str] = []
    total, pos = 0, start
    for hit in reversed(found):
        seg = text[max(hit.end, pos - width):pos]
        parts.append(seg)
        total += len(seg)
        if total >= width:
            break
        parts.append(f"[{hit.kind}]")
        total += len(hit.kind) + 2
        pos = hit.start
        if total >= width:
            break
    else:
        parts.append(text[max(0, pos - (width - total)):pos])
    return "".join(reversed(parts))[-width:]


def _check(text: str, m: "re.Match[str]", name: str,
           found: List[PiiMatch]) -> Optional[Tuple[PiiMatch, int]]:
    """Validate branch ``name`` of match ``m``; return (match, resume offset) or None."""
    _, kind, _, validator, value_group, trimmable = _INFO[name]
    s, e = m.span(value_group or name)
    ctx: _Context = lambda: _context(text, s, found)  # noqa: E731 - computed only if needed
    if validator is None or validator(text[s:e], ctx):
        return PiiMatch(s, e, kind, text[s:e]), m.end(name)
    if trimmable:
        pattern = _SINGLE[name]
        cut = text.rfind(" ", s, e)
        while cut > s:
            m2 = pattern.match(text, s, cut)
            if m2 is not None and validator(m2.group(name), ctx):
                return PiiMatch(s, m2.end(name), kind, m2.group(name)), m2.end(name)
            cut = text.rfind(" ", s, cut)
    return None


def _fallback(text: str, start: int, failed: str,
              found: List[PiiMatch]) -> Optional[Tuple[PiiMatch, int]]:
    """Try the branches after ``failed`` at offset ``start`` (earlier ones did not match)."""
    while failed in _TAIL:
        m = _TAIL[failed].match(text, start)
        if m is None:
            return None
        failed = m.lastgroup or ""
        hit = _check(text, m, failed, found)
        if hit is not None:
            return hit
    return None


def find_pii(text: str) -> List[PiiMatch]:
    """All PII spans in ``text``: non-overlapping, sorted by ``start``."""
    found: List[PiiMatch] = []
    search = (_COMBINED_NO_EMAIL if "@" not in text else _COMBINED if text.isascii() else _COMBINED_INTL).search
    pos, n = 0, len(text)
    while pos < n:
        m = search(text, pos)
        if m is None:
            break
        start = m.start()
        # Nothing may start right after a match or a "]": after scrubbing, both read as the
        # end of a placeholder, and the regex lookbehinds would judge that char differently.
        if (found and found[-1].end == start) or text[start - 1:start] == "]":
            pos = start + 1
            continue
        name = m.lastgroup or ""
        hit = _check(text, m, name, found) or _fallback(text, start, name, found)
        if hit is None:
            pos = start + 1
            continue
        found.append(hit[0])
        pos = hit[1]
    return found


def scrub_pii_with_counts(text: str) -> Tuple[str, Dict[str, int]]:
    """``scrub_pii(text)`` plus the number of replacements per kind (kinds seen only)."""
    matches = find_pii(text)
    if not matches:
        return text, {}
    parts: List[str] = []
    counts: Dict[str, int] = {}
    last = 0
    for hit in matches:
        parts += (text[last:hit.start], f"[{hit.kind}]")
        counts[hit.kind] = counts.get(hit.kind, 0) + 1
        last = hit.end
    parts.append(text[last:])
    return "".join(parts), counts


def scrub_pii(text: str) -> str:
    """Replace every span of :func:`find_pii` with its placeholder ``[KIND]``."""
    return scrub_pii_with_counts(text)[0]
