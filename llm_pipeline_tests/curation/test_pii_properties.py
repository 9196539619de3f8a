"""Hypothesis property tests for the PII scrubber: never raises, idempotent, edits only matched spans."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llm_pipeline_assets.curation.pii import PII_KINDS, find_pii, scrub_pii, scrub_pii_with_counts

# Real PII, near misses and placeholder text; glued together without spaces they stress the
# boundaries between candidates (where idempotence bugs live).
SAMPLES = [
    "john.doe@example.com", "a@b.co", "555-123-4567", "(555) 123-4567", "+1 555 123 4567",
    "+44 20 7946 0958", "+33 1 23 45 67 89", "+14155552671", "tel 5551234567", "123-45-6789",
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005",
    "192.168.1.1", "10.0.0.1-10.0.0.255", "fe80::1ff:fe23:4567:890a", "2001:db8::", "::ffff:10.0.0.1",
    "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key=" + "A1b/" * 10, "ghp_" + "a1" * 18,
    "github_pat_" + "x9" * 12, "xoxb-1234567890-abc", "xoxp-1234567890-", "Bearer abc123def456ghi==",
    "-----BEGIN PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAAAAA", "-----END PRIVATE KEY-----",
    "v1.2.3.4", "version ", "Order #", "tracking ", "ISBN ", "call ", "2024-01-15", "12:30:45",
    "$1,234.56", "1.2.3", *(f"[{kind}]" for kind in PII_KINDS),
]
GLUE = st.text(alphabet=st.sampled_from(list("abcfAKIxo0159-.:+@ ][()#\n_=/%,~")), max_size=3)
PREFIXES = st.sampled_from(SAMPLES).flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i]))
# Any code point, lone surrogates and NUL included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=200)
DOCS = st.one_of(
    ANY_TEXT,
    st.lists(st.one_of(st.sampled_from(SAMPLES), PREFIXES, GLUE, ANY_TEXT.map(lambda s: s[:4])),
             max_size=16).map("".join),
)

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(DOCS)
def test_never_raises_and_returns_str(text):
    out, counts = scrub_pii_with_counts(text)
    assert isinstance(out, str)
    assert set(counts) <= set(PII_KINDS) and all(n > 0 for n in counts.values())


@PROPS
@given(DOCS)
def test_idempotent(text):
    once = scrub_pii(text)
    assert scrub_pii(once) == once


@PROPS
@given(DOCS)
def test_only_matched_spans_change(text):
    matches = find_pii(text)
    for a, b in zip(matches, matches[1:]):
        assert a.end <= b.start  # sorted, non-overlapping
    outside, pieces, last = [], [], 0
    for m in matches:
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start:m.end] == m.value and m.kind in PII_KINDS
        outside.append(text[last:m.start])
        pieces += [text[last:m.start], f"[{m.kind}]"]
        last = m.end
    outside.append(text[last:])
    pieces.append(text[last:])
    scrubbed, counts = scrub_pii_with_counts(text)
    assert scrubbed == "".join(pieces)
    assert sum(counts.values()) == len(matches)
    # The unmatched text survives, in order, between the placeholders.
    pos = 0
    for chunk in outside:
        found = scrubbed.find(chunk, pos)
        assert found >= pos
        pos = found + len(chunk)


@PROPS
@given(st.sampled_from(SAMPLES[:28]), GLUE, GLUE)
def test_known_pii_is_scrubbed_in_any_surroundings(sample, left, right):
    # A real PII sample set off by spaces is replaced whatever (context-free) text is around it.
    assert find_pii(sample)
    assert sample not in scrub_pii(f"{left.replace('#', '')} {sample} {right}")


@settings(max_examples=5, deadline=None)
@given(st.sampled_from(["\x00", "\ud800", "1", "1 ", "a@", ":", "-----BEGIN PRIVATE KEY-----\n", "4111 1111 "]))
def test_huge_repetitive_input(unit):
    text = unit * (400_000 // len(unit))
    out = scrub_pii(text)
    assert scrub_pii(out) == out


# Prose that cannot hold PII: no digits, "@", "-", ":", "=", "_" or capitals (tokens, keys, numbers, addresses).
PROSE = st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz      \n.,;!?'()")), max_size=120)
# Kinds that no context word can veto (phones/cards after "order", IPs after "version" stay by design).
CONTEXT_FREE = {"john.doe@example.com": "EMAIL", "123-45-6789": "SSN", "AKIAIOSFODNN7EXAMPLE": "AWS_KEY",
                "ghp_" + "a1" * 18: "GITHUB_TOKEN", "xoxb-1234567890-abc": "SLACK_TOKEN",
                "-----BEGIN PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----": "PRIVATE_KEY"}


@PROPS
@given(PROSE)
def test_text_without_pii_is_returned_unchanged(text):
    assert scrub_pii_with_counts(text) == (text, {})


@PROPS
@given(PROSE, st.sampled_from(sorted(CONTEXT_FREE)), PROSE)
@example("a bearer", "AKIAIOSFODNN7EXAMPLE", "")
@example("contact me", "john.doe@example.com", "today.")
def test_exactly_the_planted_value_is_replaced(before, sample, after):
    # Nothing around the value is removed or altered: the output is the input with one placeholder.
    # (The kind may follow the context: "bearer AKIA..." is a bearer token; the span is the same.)
    out, counts = scrub_pii_with_counts(f"{before} {sample} {after}")
    kind = out[len(before) + 2: len(out) - len(after) - 2]
    assert out == f"{before} [{kind}] {after}" and counts == {kind: 1}
    assert kind == CONTEXT_FREE[sample] or re.search(r"(?<!\w)bearer *$", before)  # the only relabelling word
