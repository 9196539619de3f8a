"""dpo.beta reaches the DPO trainer: the implicit rewards are beta x the policy/reference log-ratio."""

import pytest
import torch

from llm_pipeline_assets.finetune.preference import DpoSettings, build_dpo_trainer
from llm_pipeline_assets.formatters.dpo import synthetic_dpo


def _eval_metrics(base, **kw) -> dict:
    pairs = synthetic_dpo(24, 5)
    trainer, _ = build_dpo_trainer(DpoSettings(max_steps=1, **kw), base / "base", pairs[:16], pairs[16:],
                                   base / "dpo-beta")
    with torch.no_grad():  # move the policy away from its reference (equal, every reward is 0 at any beta)
        torch.manual_seed(0)
        for p in trainer.model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return trainer.evaluate()


def test_dpo_beta_scales_the_rewards_and_changes_the_loss(base):
    low, high = _eval_metrics(base, beta=0.1), _eval_metrics(base, beta=0.5)
    margin_low, margin_high = low["eval_rewards/margins"], high["eval_rewards/margins"]
    assert abs(margin_low) > 1e-4
    assert margin_high == pytest.approx(5 * margin_low, rel=1e-3)
    assert abs(high["eval_loss"] - low["eval_loss"]) > 1e-4
