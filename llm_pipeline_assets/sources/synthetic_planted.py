"""Planted problems for the synthetic corpus: PII values, PII look-alikes, toxic lines, low-quality
texts and web boilerplate. Every function takes an explicit ``random.Random``. Stdlib only.
"""

from __future__ import annotations

import functools
import random
import string
from pathlib import Path

from llm_pipeline_assets.sources import synthetic_vocab as V
from llm_pipeline_assets.sources.synthetic_prose import render_template

_ALNUM = string.ascii_letters + string.digits
_B64 = _ALNUM + "+/"
_B64URL = _ALNUM + "-_"
_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "fastmail.com", "northwind.io",
            "contoso.org", "acme-corp.com", "uni-example.edu", "mailbox.org", "company.co.uk"]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` pass the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = [c for c in number if c.isdigit()]
    return luhn_check_digit("".join(digits[:-1])) == digits[-1]


def _email(rng: random.Random) -> str:
    first, last = rng.choice(V.FIRST_NAMES).lower(), rng.choice(V.LAST_NAMES).lower()
    user = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}", f"{last}.{first}"])
    return f"{user}@{rng.choice(_DOMAINS)}"


def _phone_us(rng: random.Random) -> str:
    area, exch, line = rng.randint(201, 989), rng.randint(200, 999), _digits(rng, 4)
    fmt = rng.choice(["{a}-{e}-{l}", "({a}) {e}-{l}", "{a}.{e}.{l}", "+1 {a} {e} {l}"])
    return fmt.format(a=area, e=exch, l=line)


def _phone_intl(rng: random.Random) -> str:
    fmt = rng.choice(["+44 20 {4} {4}", "+49 30 {4} {4}", "+33 1 {2} {2} {2} {2}", "+34 91{1} {3} {3}",
                      "+61 2 {4} {4}", "+91 98{3} {5}", "+81 3 {4} {4}"])
    out = []
    for chunk in fmt.split("{"):
        if "}" in chunk:
            n, rest = chunk.split("}", 1)
            out.append(_digits(rng, int(n)) + rest)
        else:
            out.append(chunk)
    return "".join(out)


def _ssn(rng: random.Random) -> str:
    area = rng.randint(1, 899)
    area = 665 if area == 666 else area  # 000, 666 and 900-999 are never issued
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _credit_card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("53", 16), ("55", 16), ("34", 15), ("37", 15), ("6011", 16)])
    payload = prefix + _digits(rng, length - len(prefix) - 1)
    number = payload + luhn_check_digit(payload)
    if length == 15:
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[i:i + 4] for i in range(0, 16, 4)]
    return rng.choice([" ", "-", ""]).join(groups)


def _ipv4(rng: random.Random) -> str:
    first = rng.choice([a for a in range(11, 224) if a not in (127, 169, 172, 192)])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _ipv6(rng: random.Random) -> str:
    hextets = [rng.choice(["2001", "2a02", "2600", "2607", "2a00", "2c0f"])]
    hextets += [f"{rng.randint(0, 0xFFFF):x}" for _ in range(7)]
    if rng.random() < 0.5:  # compressed form with a zero run
        return ":".join(hextets[:3]) + "::" + ":".join(hextets[5:])
    return ":".join(hextets)


def _aws_key(rng: random.Random) -> str:
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def _github_token(rng: random.Random) -> str:
    return "ghp_" + "".join(rng.choice(_ALNUM) for _ in range(36))


def _slack_token(rng: random.Random) -> str:
    tail = "".join(rng.choice(_ALNUM) for _ in range(24))
    return f"xox{rng.choice('bpa')}-{_digits(rng, 11)}-{_digits(rng, 12)}-{tail}"


def _bearer_token(rng: random.Random) -> str:
    body = "".join(rng.choice(_B64URL) for _ in range(rng.randint(40, 80)))
    sig = "".join(rng.choice(_B64URL) for _ in range(43))
    return f"Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{body}.{sig}"


def _private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    lines = ["".join(rng.choice(_B64) for _ in range(64)) for _ in range(rng.randint(5, 10))]
    lines.append("".join(rng.choice(_B64) for _ in range(rng.randint(8, 60))) + "==")
    return "\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----"])


_PII_GENERATORS = {
    "email": (_email, ["You can reach {name} at {value} about the {a} {n}.",
                       "Questions about the {ns} should go to {value} before {name} {vs} them.",
                       "Send the {a} {ns} to {value} and {name} will {v} them."]),
    "phone_us": (_phone_us, ["Call {name} at {value} if the {n} {vs} again.",
                             "The {a} {n} office answers at {value} on weekdays."]),
    "phone_intl": (_phone_intl, ["Our partner in {place} can be reached on {value} for the {ns}.",
                                 "{name} left the number {value} for the {a} {n}."]),
    "ssn": (_ssn, ["The form listed {name} with social security number {value} next to the {n}.",
                   "Her SSN {value} was printed on the {a} {n} by mistake."]),
    "credit_card": (_credit_card, ["{name} paid for the {ns} with card number {value} last week.",
                                   "The receipt showed the card {value} and a {a} {n}."]),
    "ipv4": (_ipv4, ["The {a} {n} was served from {value} while {name} {vd} the {ns}.",
                     "Logins from {value} {vd} the {n} twice."]),
    "ipv6": (_ipv6, ["The {n} resolved to {value} after {name} {vd} the {ns}.",
                     "Traffic from {value} reached the {a} {n}."]),
    "aws_access_key": (_aws_key, ["The {n} script still contained the key {value} for the {ns}.",
                                  "{name} pasted the access key {value} into the {a} {n}."]),
    "github_token": (_github_token, ["A token {value} was committed with the {a} {n}.",
                                     "{name} rotated the token {value} after the {n} {vd}."]),
    "slack_token": (_slack_token, ["The {n} bot used the token {value} to {v} the {ns}.",
                                   "{name} found {value} inside the {a} {n}."]),
    "bearer_token": (_bearer_token, ["The request header was Authorization: {value} for the {n}.",
                                     "{name} copied Authorization: {value} into the {a} {n}."]),
    "private_key": (_private_key, ["{name} attached the key for the {a} {n} below."]),
}

PLANTED_PII_KINDS: tuple[str, ...] = tuple(_PII_GENERATORS)
_PII_WEIGHTS = [0.3 if k == "private_key" else 1.0 for k in PLANTED_PII_KINDS]


def pii_value(rng: random.Random, kind: str) -> str:
    """A fresh, realistic-looking value of PII ``kind`` (one of ``PLANTED_PII_KINDS``)."""
    return _PII_GENERATORS[kind][0](rng)


def pii_sentences(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    """1-3 PII plantings: (inline sentences, standalone blocks such as PEM keys, kinds used)."""
    kinds = rng.choices(PLANTED_PII_KINDS, weights=_PII_WEIGHTS, k=rng.randint(1, 3))
    inline, blocks = [], []
    for kind in kinds:
        gen, templates = _PII_GENERATORS[kind]
        value = gen(rng)
        sentence = render_template(rng, rng.choice(templates)).replace("{value}", value)
        if kind == "private_key":
            blocks.append(sentence + "\n" + value)
        else:
            inline.append(sentence)
    return inline, blocks, kinds


def _isbn13(rng: random.Random) -> str:
    while True:
        body = "978" + _digits(rng, 9)
        check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10
        digits = body + str(check)
        if not luhn_valid(digits):  # never a credit-card look-alike
            return f"{digits[:3]}-{digits[3]}-{digits[4:6]}-{digits[6:12]}-{digits[12]}"


def lookalike_sentence(rng: random.Random) -> str:
    """A sentence with a value that looks like PII but is not (date, version, price, ISBN, order, sum)."""
    kind = rng.randrange(6)
    if kind == 0:
        value = f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return render_template(rng, f"The {{a}} {{n}} opened on {value} with {{num}} {{ns}}.")
    if kind == 1:
        value = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 15)}"
        return render_template(rng, f"Version {value} of the {{n}} tool {{vd}} the {{a}} {{ns}}.")
    if kind == 2:
        value = f"${rng.randint(1, 9)},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}"
        return render_template(rng, f"The {{a}} {{n}} cost {value} after {{name}} {{vd}} it.")
    if kind == 3:
        return render_template(rng, f"The book on {{ns}} (ISBN {_isbn13(rng)}) {{vs}} the {{a}} {{n}}.")
    if kind == 4:
        order = rng.randint(100000000, 999999999)
        return render_template(rng, f"Please quote Order #{order} when you {{v}} the {{n}}.")
    x, y = rng.randint(2, 99), rng.randint(2, 99)
    return render_template(rng, f"As the {{n}} {{vd}}, {x} + {y} = {x + y} for every {{a}} {{n}}.")


@functools.lru_cache(maxsize=1)
def _toxic_terms() -> tuple[str, ...]:
    path = Path(__file__).resolve().parent.parent / "curation" / "data" / "toxic_words_en.txt"
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line)


_TOXIC_TEMPLATES = [
    '"{term}," {name} wrote under the post about the {a} {n}.',
    'One reply to the {a} {n} simply said "{term}" and nothing more.',
    'Someone in the thread about {ns} kept typing "{term}" at {name}.',
    'The comment beneath the {n} photo read "{term}" in large letters.',
    '{name} shouted "{term}" at the {ns} across the {n}.',
    'An anonymous account answered the {a} {n} with "{term}" again.',
]


def toxic_sentences(rng: random.Random) -> list[str]:
    """2-3 sentences, each quoting a different term of the project's toxicity lexicon."""
    terms = rng.sample(_toxic_terms(), rng.randint(2, 3))
    templates = rng.sample(_TOXIC_TEMPLATES, len(terms))
    return [render_template(rng, t).replace("{term}", term) for t, term in zip(templates, terms)]
