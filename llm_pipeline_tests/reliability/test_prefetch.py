"""``shards.prefetch``: a background thread reads ahead (Parquet batches, the host half of dedup batches) without
changing what the consumer sees: the same items in order, the producer's error at its place, bounded look-ahead,
and a producer that stops when the consumer does."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from llm_pipeline_assets.shards import PREFETCH_SWITCH_INTERVAL, prefetch


def test_items_arrive_in_order_and_run_ahead_at_most_depth():
    produced = []

    def source():
        for i in range(50):
            produced.append(i)
            yield i

    seen = []
    for item in prefetch(source(), depth=3):
        time.sleep(0.002)  # a slow consumer: the producer fills the queue and waits
        assert len(produced) - len(seen) <= 3 + 2  # queue + the item in hand + the one waiting to be put
        seen.append(item)
    assert seen == list(range(50))


def test_the_producers_error_is_raised_after_the_items_before_it():
    def source():
        yield 1
        yield 2
        raise KeyError("shard 3 is unreadable")

    got = []
    with pytest.raises(KeyError, match="shard 3"):
        for item in prefetch(source()):
            got.append(item)
    assert got == [1, 2]


def test_the_next_item_is_produced_while_the_consumer_holds_this_one():
    made = [threading.Event() for _ in range(6)]

    def source():
        for i in range(6):
            made[i].set()  # e.g. the next Parquet batch decoded (Arrow releases the GIL)
            yield i

    for i in prefetch(source()):
        if i + 1 < len(made):  # a plain generator would not make item i + 1 before the next ``next()``
            assert made[i + 1].wait(timeout=10), f"item {i + 1} was not produced during the work on item {i}"


def test_closing_early_stops_the_producer():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    stream = prefetch(endless(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    producer = [t for t in threading.enumerate() if t.name == "prefetch" and t.is_alive()]
    assert producer
    stream.close()
    for thread in producer:
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_the_gil_switch_interval_is_short_while_a_producer_runs_and_restored_after():
    before = sys.getswitchinterval()
    assert before > PREFETCH_SWITCH_INTERVAL  # CPython's default 5 ms: the consumer would wait up to that per release
    outer = prefetch(iter(range(3)))
    assert next(outer) == 0
    assert sys.getswitchinterval() == PREFETCH_SWITCH_INTERVAL
    inner = prefetch(iter("ab"))  # nested: the interval comes back only when the last one ends
    assert list(inner) == ["a", "b"]
    assert sys.getswitchinterval() == PREFETCH_SWITCH_INTERVAL
    assert list(outer) == [1, 2]
    assert sys.getswitchinterval() == before

    def failing():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetch(failing()))
    assert sys.getswitchinterval() == before
    assert list(prefetch(iter([7]), switch_interval=None)) == [7]
    with pytest.raises(ValueError, match="switch_interval"):
        next(prefetch(iter([7]), switch_interval=0))
    assert sys.getswitchinterval() == before
