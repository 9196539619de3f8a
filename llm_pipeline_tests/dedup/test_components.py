"""Union-find connected components: lowest-index labels, transitivity, order invariance."""

from __future__ import annotations

import numpy as np
import pytest

from llm_pipeline_assets.dedup.components import cluster_size_histogram, connected_components


def _reference(n: int, edges) -> list[int]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[max(ru, rv)] = min(ru, rv)
    return [find(i) for i in range(n)]


def test_labels_are_lowest_index_and_transitive():
    # chain 7-5-3-1 (given in reverse), pair 2-6, singletons 0 and 4
    edges = np.array([[7, 5], [5, 3], [3, 1], [6, 2]])
    labels = connected_components(8, edges)
    assert labels.tolist() == [0, 1, 2, 1, 4, 1, 2, 1]
    assert labels.dtype == np.int64


def test_long_chain_converges():
    n = 5000
    edges = np.stack([np.arange(1, n), np.arange(0, n - 1)], axis=1)[::-1]
    assert (connected_components(n, edges) == 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_random_graphs_match_reference_and_are_order_invariant(seed):
    rng = np.random.default_rng(seed)
    n = 300
    edges = rng.integers(0, n, size=(int(rng.integers(50, 400)), 2))
    labels = connected_components(n, edges)
    assert labels.tolist() == _reference(n, edges.tolist())
    shuffled = edges[rng.permutation(len(edges))][:, ::-1]
    assert np.array_equal(connected_components(n, shuffled), labels)
    assert (labels <= np.arange(n)).all()  # label = min index, so never above own index
    for u, v in edges:
        assert labels[u] == labels[v]


def test_degenerate_inputs():
    assert connected_components(0, np.zeros((0, 2))).size == 0
    assert connected_components(3, np.zeros((0, 2))).tolist() == [0, 1, 2]
    assert connected_components(3, [[1, 1], [2, 2]]).tolist() == [0, 1, 2]  # self-loops
    assert connected_components(3, [[0, 2], [2, 0], [0, 2]]).tolist() == [0, 1, 0]  # duplicates
    with pytest.raises(ValueError):
        connected_components(3, [[0, 3]])
    with pytest.raises(ValueError):
        connected_components(3, [[-1, 0]])


def test_cluster_size_histogram():
    assert cluster_size_histogram(np.array([0, 0, 2, 3, 3, 3, 6])) == {1: 2, 2: 1, 3: 1}
    assert cluster_size_histogram(np.array([], dtype=np.int64)) == {}
