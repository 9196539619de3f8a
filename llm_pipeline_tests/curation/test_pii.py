"""Example-based tests for the PII scrubber (property tests live in test_pii_properties.py)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from llm_pipeline_assets.curation.pii import (
    PII_KINDS,
    PiiMatch,
    find_pii,
    scrub_pii,
    scrub_pii_with_counts,
)

GHP = "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"  # 36 characters after the prefix
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"

# (kind, text, the exact value that must be found)
POSITIVE = [
    ("EMAIL", "Mail john.doe@example.com today", "john.doe@example.com"),
    ("EMAIL", "Write to first.last+tag@sub.example.co.uk.", "first.last+tag@sub.example.co.uk"),
    ("EMAIL", "<a_b-c%d@my-domain.io>", "a_b-c%d@my-domain.io"),
    ("EMAIL", "id,email\n7,jane99@mail.org\n", "jane99@mail.org"),
    ("EMAIL", "Schreib an jürgen.müller@münchen-stadt.de bitte", "jürgen.müller@münchen-stadt.de"),
    ("EMAIL", "почта: иван@почта.рф.", "иван@почта.рф"),
    ("EMAIL", "punycode ivan@example.xn--p1ai here", "ivan@example.xn--p1ai"),
    ("EMAIL", "लिखें मनोज@example.com पर", "मनोज@example.com"),  # combining marks inside the name
    ("EMAIL", "डाक user@डाक.भारत भेजें", "user@डाक.भारत"),
    ("EMAIL", "a ZWJ user@ex\u200dample.com inside", "user@ex\u200dample.com"),
    ("PHONE", "Call 555-123-4567 now", "555-123-4567"),
    ("PHONE", "Office: (555) 123-4567.", "(555) 123-4567"),
    ("PHONE", "fax 555.123.4567", "555.123.4567"),
    ("PHONE", "US: +1 555 123 4567", "+1 555 123 4567"),
    ("PHONE", "toll free 1-800-555-1234", "1-800-555-1234"),
    ("PHONE", "cell +1 (555) 123-4567", "+1 (555) 123-4567"),
    ("PHONE", "London +44 20 7946 0958", "+44 20 7946 0958"),
    ("PHONE", "Berlin +49 30 1234567", "+49 30 1234567"),
    ("PHONE", "Paris +33 1 23 45 67 89", "+33 1 23 45 67 89"),
    ("PHONE", "E.164 +14155552671", "+14155552671"),
    ("PHONE", "UK +44 (0) 20 7946 0958", "+44 (0) 20 7946 0958"),
    ("PHONE", "phone=+442079460958&x=1", "+442079460958"),
    ("PHONE", "call me at 5551234567", "5551234567"),
    ("PHONE", "Tel: 4155552671", "4155552671"),
    ("PHONE", "Tel: +44 (0)20 7946 0958", "+44 (0)20 7946 0958"),
    ("PHONE", "Phone: 020 7946 0958", "020 7946 0958"),
    ("PHONE", "call 07700 900123 today", "07700 900123"),
    ("PHONE", "Fax 0049 30 1234567", "0049 30 1234567"),
    ("SSN", "SSN: 123 45 6789", "123 45 6789"),
    ("SSN", "social security number 123456789.", "123456789"),
    ("SSN", "SSN 123-45-6789", "123-45-6789"),
    ("SSN", "ssn:078-05-1120,", "078-05-1120"),
    ("SSN", "(899-99-9999)", "899-99-9999"),
    ("CREDIT_CARD", "Visa 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "Visa 4111-1111-1111-1111 exp 12/27", "4111-1111-1111-1111"),
    ("CREDIT_CARD", "card=4012888888881881;", "4012888888881881"),
    ("CREDIT_CARD", "MC 5555 5555 5555 4444", "5555 5555 5555 4444"),
    ("CREDIT_CARD", "MC 2223003122003222", "2223003122003222"),
    ("CREDIT_CARD", "Amex 3782 822463 10005", "3782 822463 10005"),
    ("CREDIT_CARD", "Amex 371449635398431", "371449635398431"),
    ("CREDIT_CARD", "Discover 6011 1111 1111 1117", "6011 1111 1111 1117"),
    ("CREDIT_CARD", "JCB 3530111333300000", "3530111333300000"),
    ("CREDIT_CARD", "Diners 30569309025904", "30569309025904"),
    ("IP_ADDRESS", "host 192.168.1.1 is up", "192.168.1.1"),
    ("IP_ADDRESS", "dns 8.8.8.8.", "8.8.8.8"),
    ("IP_ADDRESS", "http://10.0.0.255:8080/x", "10.0.0.255"),
    ("IP_ADDRESS", "ip,0.0.0.0\n", "0.0.0.0"),
    ("IP_ADDRESS", "v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("IP_ADDRESS", "addr 2001:db8::1, gw", "2001:db8::1"),
    ("IP_ADDRESS", "link fe80::1ff:fe23:4567:890a.", "fe80::1ff:fe23:4567:890a"),
    ("IP_ADDRESS", "mapped ::ffff:192.168.1.1", "::ffff:192.168.1.1"),
    ("IP_ADDRESS", "http://[2001:db8::8a2e:370:7334]:443/", "2001:db8::8a2e:370:7334"),
    ("AWS_KEY", "key AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS_KEY", "sts ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    ("AWS_KEY", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("AWS_KEY", f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
    ("AWS_KEY", f'{{"aws_secret_access_key": "{AWS_SECRET}"}}', AWS_SECRET),
    ("GITHUB_TOKEN", f"token {GHP}", GHP),
    ("GITHUB_TOKEN", "gho_" + GHP[4:], "gho_" + GHP[4:]),
    ("GITHUB_TOKEN", "GH=ghs_" + GHP[4:] + "XYZ", "ghs_" + GHP[4:] + "XYZ"),
    ("GITHUB_TOKEN", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
     "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123"),
    ("SLACK_TOKEN", "SLACK=xoxb-123456789012-abcdefghijklmnop", "xoxb-123456789012-abcdefghijklmnop"),
    ("SLACK_TOKEN", "xoxp-1111-2222-3333-aaaabbbbcccc", "xoxp-1111-2222-3333-aaaabbbbcccc"),
    ("SLACK_TOKEN", "legacy xoxs-12345abcdef", "xoxs-12345abcdef"),
    ("BEARER_TOKEN", f"Authorization: Bearer {JWT}", JWT),
    ("BEARER_TOKEN", "authorization: bearer abc123DEF456ghi789", "abc123DEF456ghi789"),
    ("BEARER_TOKEN", "Bearer AbCdEfGhIjKlMnOpQrStUvWx== done", "AbCdEfGhIjKlMnOpQrStUvWx=="),
]


@pytest.mark.parametrize(("kind", "text", "value"), POSITIVE)
def test_positive(kind, text, value):
    assert [(m.kind, m.value) for m in find_pii(text)] == [(kind, value)]
    assert scrub_pii(text) == text.replace(value, f"[{kind}]", 1)


NEGATIVE = [
    # dates and times
    "Due 2024-01-15, paid 01/15/2024, shipped 15.01.2024, filed 2024/01/15.",
    "Starts at 12:30:45 and ends 23:59:59.999 (UTC+01:00).",
    # versions, including four-part ones that look like IPv4
    "Python 3.11.7, lib 1.2.3, build v10.4.1.2, version 10.4.1.2, Version: 1.0.0.1",
    "firmware 4.19.0.7 and release 10.0.0.1 and v 2.2.2.2",
    "an invalid quad 256.1.1.1, a five-part 1.2.3.4.5, leading zeros 01.02.03.04",
    # section, theorem and clause numbers are not addresses
    "See Section 10.1.2.3, Theorem 2.3.1.4, § 14.9.1.2, §14.9.1.3 and clause 4.2.1.1.",
    # runs of years and table rows of 4-digit numbers are not cards (some prefix of each passes Luhn)
    "Champions in 2001 2002 2003 2004 2005 2006, then 2011 2012 2013 2014 2015.",
    "1234 5678 9012 3456 7890 and 9999 0000 1111 2222",
    # a zero-led number with no phone word before it
    "the batch 020 7946 0958 shipped; lot 07700 900123",
    # prices and percentages
    "Total $1,234.56 or €99.99 or 1.234,56 EUR; up 45.5% (from 12%).",
    # ISBNs
    "ISBN 978-3-16-148410-0, ISBN-10 0-306-40615-2, ISBN 9783161484100, ISBN 0306406152",
    # order, invoice and tracking numbers
    "Order #123456789, order no. 2024-000123, invoice INV-2023-0042.",
    "Order #5551234567, tracking 5551234567, invoice 555-123-4567, order no. 4111111111111111",
    "Ref: 415-555-2671 and SKU 4012888888881881",
    # arithmetic, years and plain numbers
    "123 + 456 = 579, 12*34=408, 2^10 = 1024, 7+8=15, x = 10 - 3",
    "In 1999 and 2024 we sold 1,000,000 units; 42 is the answer; pi is 3.14159.",
    "the id 1234567890 and population 8123456789 are plain numbers",
    # phone/SSN/card-like sequences inside longer digit runs
    "serial 99955512345678 and 5551234567890123 and x5551234567",
    "9123-45-67890 and 1123-45-6789",
    # UUIDs, MAC addresses, C++ scopes, loopback
    "uuid 123e4567-e89b-12d3-a456-426614174000 ok",
    "MAC 00:1A:2B:3C:4D:5E, std::vector<int>, Foo::bar(), localhost ::1",
    # invalid SSNs (area 000/666/9xx, group 00, serial 0000)
    "000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000",
    # non-Luhn card number and too-short numbers
    "card 4111111111111112 or 4111 1111 1111 1112; short 4111 1111 1111",
    # almost-secrets
    "the bearer of bad news; Bearer tokens are short-lived; AKIA123; ghp_short; xoxb-1",
    "AKIAIOSFODNN7EXAMPLEX is too long, and so is aws_secret_access_key=" + "a1" * 25,
    # words that only look like e-mails
    "user@localhost, @handle, foo@, a @ b.com",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_negative_text_unchanged(text):
    assert find_pii(text) == []
    assert scrub_pii(text) == text


def test_dotted_quad_rule():
    # A valid dotted quad is an IP unless glued to "v" or after a version word.
    assert scrub_pii("server 10.4.1.2 down") == "server [IP_ADDRESS] down"
    assert scrub_pii("build v10.4.1.2") == "build v10.4.1.2"
    assert scrub_pii("version 10.4.1.2") == "version 10.4.1.2"
    assert scrub_pii("v10.4.1.2 runs on 10.4.1.2") == "v10.4.1.2 runs on [IP_ADDRESS]"


def test_ip_range_both_ends():
    assert scrub_pii("10.0.0.1-10.0.0.255") == "[IP_ADDRESS]-[IP_ADDRESS]"


def test_phone_trailing_number_is_kept():
    assert scrub_pii("+44 20 7946 0958 2024") == "[PHONE] 2024"


def test_a_short_plus_number_is_not_a_phone():
    """International numbers have at least 8 digits: "+1 55 1234" (a score, a version, a range) stays."""
    assert scrub_pii("the score went +1 55 1234 overnight") == "the score went +1 55 1234 overnight"
    assert scrub_pii("Room +1 555 1234 x") == "Room [PHONE] x"  # 8 digits: a phone


def test_bare_ten_digits_need_phone_context():
    assert scrub_pii("call me at 5551234567") == "call me at [PHONE]"
    assert scrub_pii("number 5551234567") == "number 5551234567"


def test_luhn_valid_vs_invalid():
    assert scrub_pii("4111111111111111") == "[CREDIT_CARD]"
    assert scrub_pii("4111111111111112") == "4111111111111112"
    assert scrub_pii("5555 5555 5555 4444 / 5555 5555 5555 4445") == "[CREDIT_CARD] / 5555 5555 5555 4445"


PEM_BODY = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\nZ1BjP5CE/Wm/Rr500PRK+Lh9x5eJPo5CAZ3/ANBE0sT\n"


@pytest.mark.parametrize("label", ["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY",
                                   "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
def test_private_key_block(label):
    block = f"-----BEGIN {label}-----\n{PEM_BODY}-----END {label}-----"
    text = f"config:\n{block}\ntrailing text 1.2.3"
    assert scrub_pii(text) == "config:\n[PRIVATE_KEY]\ntrailing text 1.2.3"
    [match] = find_pii(text)
    assert match.value == block and match.kind == "PRIVATE_KEY"


def test_private_key_cut_off_before_end():
    text = f"leak: -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\nand then prose"
    assert scrub_pii(text) == "leak: [PRIVATE_KEY]\n\nand then prose"


def test_public_key_is_not_a_private_key():
    text = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----"
    assert scrub_pii(text) == text


def test_mixed_document_counts():
    doc = (
        "Hi, I'm Jane (jane.doe@example.com, backup j.d@work.org).\n"
        "Call 555-123-4567 or +44 20 7946 0958. SSN 123-45-6789.\n"
        "Card 4111 1111 1111 1111, not 4111 1111 1111 1112. Server 192.168.0.10, v6 2001:db8::7.\n"
        f"AKIAIOSFODNN7EXAMPLE / {GHP} / xoxb-123456789012-abcdefghijkl\n"
        f"Authorization: Bearer {JWT}\n"
        f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}-----END PRIVATE KEY-----\n"
        "Order #5551234567 shipped 2024-01-15 at 12:30:45 for $1,234.56 (v1.2.3.4)."
    )
    scrubbed, counts = scrub_pii_with_counts(doc)
    assert counts == {"EMAIL": 2, "PHONE": 2, "SSN": 1, "CREDIT_CARD": 1, "IP_ADDRESS": 2,
                      "AWS_KEY": 1, "GITHUB_TOKEN": 1, "SLACK_TOKEN": 1, "BEARER_TOKEN": 1,
                      "PRIVATE_KEY": 1}
    assert scrubbed == scrub_pii(doc)
    assert "Authorization: Bearer [BEARER_TOKEN]\n" in scrubbed
    assert "not 4111 1111 1111 1112" in scrubbed
    assert scrubbed.endswith("Order #5551234567 shipped 2024-01-15 at 12:30:45 for $1,234.56 (v1.2.3.4).")
    assert "jane" not in scrubbed and "555-123" not in scrubbed and "BEGIN" not in scrubbed
    assert scrub_pii_with_counts(scrubbed) == (scrubbed, {})


def test_counts_empty_without_pii():
    assert scrub_pii_with_counts("nothing to see here") == ("nothing to see here", {})
    assert scrub_pii_with_counts("") == ("", {})


def test_kinds_and_placeholders_are_inert():
    assert PII_KINDS == ("EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IP_ADDRESS", "AWS_KEY",
                         "GITHUB_TOKEN", "SLACK_TOKEN", "BEARER_TOKEN", "PRIVATE_KEY")
    every = " ".join(f"[{k}]" for k in PII_KINDS) + "".join(f"[{k}]" for k in PII_KINDS)
    assert find_pii(every) == []
    covered = {m.kind for _, text, _ in POSITIVE for m in find_pii(text)} | {"PRIVATE_KEY"}
    assert covered == set(PII_KINDS)  # PRIVATE_KEY has its own tests below


def test_match_objects():
    text = "a@b.com and 192.168.1.1"
    matches = find_pii(text)
    assert matches == [PiiMatch(0, 7, "EMAIL", "a@b.com"), PiiMatch(12, 23, "IP_ADDRESS", "192.168.1.1")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        matches[0].start = 1  # type: ignore[misc]


def test_odd_inputs_do_not_raise():
    weird = "\x00a@b.com\x00\ud800 555-123-4567 \udfff\uffff" + "\x00" * 1000
    assert scrub_pii(weird) == "\x00[EMAIL]\x00\ud800 [PHONE] \udfff\uffff" + "\x00" * 1000
    for text in ["", " ", "[", "]", "@", "::", "+", "-----BEGIN PRIVATE KEY-----", "4" * 10_000]:
        assert scrub_pii(scrub_pii(text)) == scrub_pii(text)


def test_throughput_on_plain_prose():
    sentence = ("The committee reviewed 42 proposals in 2024, approving about 15% of them "
                "after a long (and at times heated) discussion of costs, risks and timelines. ")
    text = sentence * (2_000_000 // len(sentence))
    start = time.perf_counter()
    assert scrub_pii(text) == text
    elapsed = time.perf_counter() - start
    # The docstring quotes ~20 MB/s; this only guards against pathological regressions.
    assert len(text) / elapsed > 1_000_000
