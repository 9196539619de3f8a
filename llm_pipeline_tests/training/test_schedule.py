"""PretrainSettings validation, curriculum lookup and the warmup + cosine schedule with a real min_lr."""

from __future__ import annotations

import json
import math

import pytest

from llm_pipeline_assets.training.settings import PretrainSettings, lr_at, scheduler_state, seq_len_at


def settings(**kw) -> PretrainSettings:
    base = dict(max_steps=100, lr=1e-3, min_lr=1e-4, warmup_steps=10)
    base.update(kw)
    return PretrainSettings(**base)


def test_warmup_is_linear_from_zero_to_peak():
    s = settings()
    assert lr_at(0, s) == 0.0
    for step in range(11):
        assert lr_at(step, s) == pytest.approx(1e-3 * step / 10)
    assert lr_at(10, s) == pytest.approx(1e-3)  # the peak


def test_cosine_decays_to_a_real_min_lr():
    s = settings()
    assert lr_at(100, s) == pytest.approx(1e-4)  # the last update trains at min_lr, not 0 and not lr
    assert lr_at(55, s) == pytest.approx(1e-4 + 0.5 * (1e-3 - 1e-4))  # half way through the decay
    x = (70 - 10) / 90
    assert lr_at(70, s) == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + math.cos(math.pi * x)))
    decay = [lr_at(k, s) for k in range(10, 101)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))  # monotone after the peak
    assert min(decay) == pytest.approx(1e-4) and lr_at(150, s) == pytest.approx(1e-4)  # clamped past the end


def test_min_lr_is_not_ignored():
    assert lr_at(100, settings(min_lr=0.0)) == pytest.approx(0.0)
    assert lr_at(100, settings(min_lr=5e-4)) == pytest.approx(5e-4)
    assert lr_at(100, settings(min_lr=1e-3)) == pytest.approx(1e-3)  # constant after warmup


def test_no_warmup_and_all_warmup():
    assert lr_at(0, settings(warmup_steps=0)) == pytest.approx(1e-3)
    s = settings(warmup_steps=100)
    assert lr_at(50, s) == pytest.approx(5e-4) and lr_at(100, s) == pytest.approx(1e-3)


def test_scheduler_state_is_plain_data():
    state = scheduler_state(40, settings())
    assert state["step"] == 40 and state["lr"] == pytest.approx(lr_at(40, settings()))
    json.dumps(state)


def test_curriculum_lookup():
    cur = [(64, 20), (128, 50), (256, 60)]
    assert [seq_len_at(k, cur) for k in (0, 19, 20, 49, 50, 59, 60, 1000)] == [64, 64, 128, 128, 256, 256, 256, 256]
    assert seq_len_at(5, [(128, 1)]) == 128  # the last entry runs to the end
    with pytest.raises(ValueError):
        seq_len_at(0, [])


@pytest.mark.parametrize("bad", [
    dict(max_steps=0), dict(micro_batch=0), dict(min_lr=2e-3), dict(warmup_steps=101), dict(device="tpu"),
    dict(dtype="float16"), dict(attn_implementation="flex"), dict(keep_last=0), dict(curriculum=[(128, 50), (64, 20)]),
    dict(curriculum=[(4, 10)]), dict(log_every=0),
])
def test_invalid_settings_are_rejected(bad):
    with pytest.raises(ValueError, match="invalid PretrainSettings"):
        settings(**bad)


def test_settings_round_trip_through_json():
    s = settings(curriculum=[(64, 20), (128, 100)], betas=[0.9, 0.99], simulate_oom_above=2)
    d = json.loads(json.dumps(s.to_dict()))
    back = PretrainSettings.from_dict(d)
    assert back == s and back.curriculum == [(64, 20), (128, 100)] and back.betas == (0.9, 0.99)
    assert s.effective_batch == s.micro_batch * s.grad_accum
