"""The synthetic corpus shared by the synthetic-source tests: 2,000 documents of the "web" source."""

from __future__ import annotations

import pytest

from llm_pipeline_assets.sources.synthetic import generate_documents

N = 2000


@pytest.fixture(scope="session")
def docs():
    return list(generate_documents("web", N, seed=0, corpus_seed=1234))


def by_label(docs, label):
    return [d for d in docs if d.label == label]
