"""Reliability and security tests (issue #8): bad input, bad config, path escapes, disk faults, secrets."""
