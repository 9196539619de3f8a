"""Run by torchrun in test_distributed.py: one pretraining process of a data-parallel group."""

import json
import sys

import torch

from llm_pipeline_assets.training.pretrain import PretrainSettings, pretrain

if __name__ == "__main__":
    torch.set_num_threads(1)
    packed, init, out, settings = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    pretrain(PretrainSettings(**settings), packed, init, out, log=lambda m: None)
