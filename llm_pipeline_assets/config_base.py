"""What every config section shares: the strict pydantic base, the YAML loader, shared limits.

- ``_Strict``: unknown keys are errors, values are frozen.
- ``load_yaml``: ``yaml.safe_load`` that also rejects a key written twice in one mapping (PyYAML would keep
  the last one silently, so ``dedup:`` written twice would quietly drop the first block).
"""

from __future__ import annotations

import yaml
from pydantic import BaseModel, ConfigDict

# Largest JSON line / document a reader accepts; bigger records are quarantined, never read into memory.
MAX_RECORD_BYTES = 8 << 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DuplicateKeyError(yaml.YAMLError):
    """A mapping that names the same key twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *base" may be overridden by design
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise DuplicateKeyError(f"key {key!r} appears twice (lines {seen[key]} and {line})")
                seen[key] = line
            except TypeError:  # an unhashable key: SafeLoader reports it
                continue
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> object:
    """Parse YAML like ``yaml.safe_load`` (plain data only, no Python objects), rejecting duplicate keys."""
    loader = _UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
