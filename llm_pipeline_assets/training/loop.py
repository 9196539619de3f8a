"""The pretraining loop behind :func:`.pretrain.pretrain` (child-process module: imports torch).

One optimizer step = ``micro_batch * grad_accum`` packed sequences (fixed when the run starts),
split into micro-batches; each micro-batch's summed token loss is divided by the step's total
target count before ``backward``, so the gradient does not depend on how the step is split — which
is what lets OOM recovery redo a step with smaller micro-batches and get the same update.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Callable

import torch

from llm_pipeline_assets.gpu.kernels import compile_loss, compile_model

from . import distributed, fsdp
from .checkpoint import (checkpoint_root, latest_checkpoint, load_optimizer_state, load_trainer_state,
                         remove_stale_temps, write_checkpoint, set_rng_state)
from .data import (CurriculumData, eval_indices, micro_batches, model_inputs, open_split, packed_seq_lens,
                   to_device, token_loss_sum)
from .lazy import StepRecords
from .model import build_optimizer, load_model
from .oom import back_off, free_memory, is_oom, maybe_simulate_oom
from .settings import PretrainSettings, lr_at, scheduler_state, seq_len_at


class Trainer:
    """State and steps of one pretraining run (fresh or resumed from the latest complete checkpoint)."""

    def __init__(self, settings: PretrainSettings, packed_dir: Path, init_dir: Path, out_dir: Path,
                 log: Callable[[str], None], on_metrics: Callable[[dict], None] | None):
        self.s, self.log, self.on_metrics = settings, log, on_metrics
        self.dist = distributed.setup(settings.device)
        self.out_dir = Path(out_dir)
        self.curriculum = settings.curriculum or [(packed_seq_lens(packed_dir)[-1], settings.max_steps)]
        lengths = [n for n, _ in self.curriculum]
        self.data = CurriculumData(packed_dir, lengths, settings.seed)
        self.val = {n: open_split(packed_dir, "val", n) for n in set(lengths)}
        self.root = checkpoint_root(self.out_dir)
        if self.dist.is_main:
            remove_stale_temps(self.root)
        distributed.barrier(self.dist)
        ckpt = latest_checkpoint(self.root)
        torch.manual_seed(settings.seed)
        self.model = load_model(settings, ckpt or init_dir)
        regional = settings.compile and settings.compile_scope == "regional"
        if regional:  # before sharding: FSDP's hooks stay outside the compiled layers
            compile_model(self.model, "regional", settings.compile_mode)
        self.sharded = bool(settings.fsdp and self.dist.enabled)
        # FSDP averages gradients over ranks; each rank's loss is already a share of the global mean, so
        # scale by world to get the sum (the replicated path sums with all-reduce instead)
        self.grad_scale = float(self.dist.world) if self.sharded else 1.0
        if self.sharded:  # before the optimizer: it must hold the shards, not the full tensors
            fsdp.check_even_split(settings.micro_batch * settings.grad_accum, self.dist.world)
            units = fsdp.shard_model(self.model)
            log(f"pretrain: FSDP over {self.dist.world} ranks ({units} sharded units)")
        elif self.dist.enabled and settings.micro_batch * settings.grad_accum < self.dist.world:
            log(f"pretrain: WARNING micro_batch * grad_accum = {settings.micro_batch * settings.grad_accum} samples "
                f"per step for {self.dist.world} ranks: some ranks sit idle every step (pretrain.micro_batch, "
                "pretrain.grad_accum)")
        too_long = [n for n in lengths if n > self.model.config.max_position_embeddings]
        if too_long:
            raise ValueError(f"curriculum lengths {too_long} exceed max_position_embeddings "
                             f"{self.model.config.max_position_embeddings}")
        self.optimizer = build_optimizer(self.model, settings)
        self.forward_model = (compile_model(self.model, "full", settings.compile_mode) if settings.compile and not regional
                              else self.model)
        # compiled, the loss reads the bf16 logits once instead of copying them to fp32 and back (4 GB at 124m)
        self.loss_fn = (compile_loss(token_loss_sum, settings.compile_mode) if settings.compile and settings.compile_loss
                        else token_loss_sum)
        self.samples_per_step = settings.micro_batch * settings.grad_accum
        self.step, self.micro_batch, self.grad_accum = 0, settings.micro_batch, settings.grad_accum
        self.history: list[dict] = []
        self.val_history: list[dict] = []
        self.recoveries: list[dict] = []
        self.tokens_seen, self.train_seconds = 0, 0.0
        self.resumed_from = None
        self.saved_step = -1
        self.final_weights = None  # FSDP: the full weights gathered by the final save (rank 0)
        # sync_every > 1: loss / grad norm stay on the device and reach the host in groups (lazy.py)
        self.records = StepRecords(settings.device) if settings.sync_every > 1 and not self.dist.enabled else None
        if ckpt is not None:
            self._restore(ckpt)

    def _restore(self, ckpt: Path) -> None:
        state = load_trainer_state(ckpt)
        load_optimizer_state(ckpt, self.optimizer, self.model if self.sharded else None)
        self.data.load_state_dict(state["data"])
        set_rng_state(state["rng"])
        self.step = self.saved_step = int(state["step"])
        # keep an OOM back-off in force, unless the configured batch changed so it no longer fits
        if int(state["micro_batch"]) * int(state["grad_accum"]) >= self.samples_per_step >= int(state["micro_batch"]):
            self.micro_batch, self.grad_accum = int(state["micro_batch"]), int(state["grad_accum"])
        self.history, self.val_history = list(state["history"]), list(state["val_history"])
        self.recoveries = list(state["recoveries"])
        self.tokens_seen, self.train_seconds = int(state["tokens_seen"]), float(state["train_seconds"])
        self.resumed_from = str(ckpt)
        changed = sorted(k for k, v in state["settings"].items() if self.s.to_dict().get(k) != v)
        self.log(f"pretrain: resumed from {ckpt} at step {self.step} (micro_batch {self.micro_batch} x "
                 f"grad_accum {self.grad_accum})" + (f"; settings changed since: {changed}" if changed else ""))

    def _autocast(self):
        if self.s.dtype == "bfloat16":
            return torch.autocast(device_type=self.s.device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _accumulate(self, packed, indices: list[int]) -> tuple[float, int]:
        """Forward/backward of this rank's share of one step's samples; (global mean token loss, tokens)."""
        batches = micro_batches(packed, distributed.shard(indices, self.dist), self.micro_batch)
        dev = self.s.device
        total = max(1.0, distributed.all_sum(sum(b["targets"] for b in batches), self.dist, dev))
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=dev)
        for b in batches:
            inputs = model_inputs(b, dev, self.s.attn_implementation, torch.float32)
            maybe_simulate_oom(int(inputs["input_ids"].shape[0]), self.s.simulate_oom_above)
            with self._autocast():
                logits = self.forward_model(**inputs).logits
            loss = self.loss_fn(logits, to_device(b["labels"], dev))
            (loss / total * self.grad_scale).backward()
            loss_sum += loss.detach()
            del logits, loss
        tokens = distributed.all_sum(sum(b["tokens"] for b in batches), self.dist, dev)
        if self.records is not None:  # deferred: no host sync here
            return loss_sum / total, int(tokens)
        return distributed.all_sum(float(loss_sum), self.dist, dev) / total, int(tokens)

    def _recover(self, step: int, message: str) -> None:
        before = (self.micro_batch, self.grad_accum)
        free_memory(self.model, self.s.device)
        self.micro_batch, self.grad_accum = back_off(self.micro_batch, self.grad_accum, message)
        self.recoveries.append({"step": step + 1, "from_micro_batch": before[0], "from_grad_accum": before[1],
                                "micro_batch": self.micro_batch, "grad_accum": self.grad_accum, "error": message})
        self.log(f"pretrain: out of memory at step {step + 1} ({message}); retrying the same samples with "
                 f"micro_batch {before[0]}->{self.micro_batch}, grad_accum {before[1]}->{self.grad_accum}")

    def train_step(self) -> dict:
        """One optimizer step (redone with smaller micro-batches after an OOM); returns its record."""
        seq_len = seq_len_at(self.step, self.curriculum)
        indices = self.data.take(seq_len, self.samples_per_step)
        start = time.perf_counter()
        while True:
            message = None
            try:
                loss, tokens = self._accumulate(self.data.sets[seq_len], indices)
            except (RuntimeError, torch.OutOfMemoryError) as exc:
                if not is_oom(exc):
                    raise
                message = f"{type(exc).__name__}: {exc}"
            # collective: if any rank ran out of memory, every rank backs off and redoes the step
            if not distributed.any_rank(message is not None, self.dist, self.s.device):
                break
            self._recover(self.step, message or "out of memory on another rank")
        if not self.sharded:  # FSDP reduce-scatters (sums) the gradients itself
            distributed.sum_gradients(self.model, self.dist)
        clip = self.s.grad_clip if self.s.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        grad_norm = grad_norm.detach() if self.records is not None else fsdp.as_float(grad_norm)
        lr = lr_at(self.step + 1, self.s)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        seconds = None  # deferred records get their share of the group's wall time in StepRecords.flush
        if self.records is None:
            if self.s.device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            self.train_seconds += seconds
        self.step += 1
        self.tokens_seen += tokens
        return {"step": self.step, "loss": loss, "lr": lr, "seq_len": seq_len, "grad_norm": grad_norm,
                "tokens": tokens, "tokens_seen": self.tokens_seen, "seconds": seconds,
                "tokens_per_second": None if seconds is None else tokens / max(seconds, 1e-9),
                "micro_batch": self.micro_batch,
                "grad_accum": self.grad_accum}

    @torch.no_grad()
    def evaluate(self) -> dict | None:
        """Validation loss/perplexity on ``eval_batches * micro_batch`` val sequences of the current length, spread
        over the split (``data.eval_indices``)."""
        seq_len = seq_len_at(max(self.step - 1, 0), self.curriculum)
        val = self.val.get(seq_len)
        if val is None or self.s.eval_batches == 0:
            return None
        indices = eval_indices(val, self.s.eval_batches * self.s.micro_batch)
        self.model.eval()
        loss_sum, targets = 0.0, 0
        try:
            for b in micro_batches(val, indices, self.micro_batch):
                with self._autocast():
                    logits = self.forward_model(**model_inputs(b, self.s.device, self.s.attn_implementation,
                                                               torch.float32)).logits
                loss_sum += float(self.loss_fn(logits, to_device(b["labels"], self.s.device)))
                targets += b["targets"]
        finally:
            self.model.train()
        loss = loss_sum / max(targets, 1)
        record = {"step": self.step, "seq_len": seq_len, "val_loss": loss,
                  "val_perplexity": math.exp(min(loss, 700.0)), "val_tokens": targets, "sequences": len(indices)}
        self.val_history.append(record)
        self.log(f"pretrain: step {self.step} val_loss {loss:.4f} perplexity {record['val_perplexity']:.2f}")
        return record

    def save(self) -> Path:
        state = {"settings": self.s.to_dict(), "scheduler": scheduler_state(self.step, self.s),
                 "data": self.data.state_dict(), "micro_batch": self.micro_batch, "grad_accum": self.grad_accum,
                 "history": self.history, "val_history": self.val_history, "recoveries": self.recoveries,
                 "tokens_seen": self.tokens_seen, "train_seconds": self.train_seconds,
                 "curriculum": [list(c) for c in self.curriculum]}
        path = self.root
        full = fsdp.full_state_dicts(self.model, self.optimizer) if self.sharded else (None, None)  # collective
        # the last save's gathered weights are the final model's: pretrain() writes them without a second gather
        # (a shallow copy: save_pretrained may pop the entries of the dict it is given)
        self.final_weights = dict(full[0]) if self.sharded and self.step >= self.s.max_steps else None
        if self.dist.is_main:  # one writer; the others wait so nobody resumes from a half-written folder
            path = write_checkpoint(self.root, self.step, self.model, self.optimizer, state, self.s.keep_last,
                                    model_state=full[0], optimizer_state=full[1])
        distributed.barrier(self.dist)
        self.saved_step = self.step
        return path

    def _sync_point(self, step: int) -> bool:
        """Deferred records are read back here: every sync_every steps and wherever numbers are needed."""
        s = self.s
        return any(every and step % every == 0 for every in (s.sync_every, s.log_every, s.eval_every, s.save_every)) \
            or step == s.max_steps

    def _report(self, record: dict) -> None:
        s = self.s
        if record["step"] % s.log_every == 0 or record["step"] in (1, s.max_steps):
            self.log(f"pretrain: step {record['step']}/{s.max_steps} seq_len {record['seq_len']} "
                     f"loss {record['loss']:.4f} lr {record['lr']:.2e} grad_norm {record['grad_norm']:.3f} "
                     f"{record['tokens_per_second']:.0f} tok/s micro_batch {self.micro_batch}x{self.grad_accum}")
        if self.on_metrics is not None:
            self.on_metrics(dict(record, kind="train"))

    def run(self) -> None:
        """Train to ``max_steps``: log, report metrics, evaluate and checkpoint on schedule."""
        s = self.s
        if self.records is not None:
            self.records.restart_clock()
        while self.step < s.max_steps:
            record = self.train_step()
            previous = self.history[-1]["seq_len"] if self.history else None
            self.history.append(record)
            if previous is not None and previous != record["seq_len"]:
                self.log(f"pretrain: curriculum moves from seq_len {previous} to {record['seq_len']} "
                         f"at step {record['step']}")
            if self.records is None:
                self._report(record)
            else:
                self.records.add(record)
                if not self._sync_point(self.step):
                    continue
                group, wall = self.records.flush()
                self.train_seconds += wall
                for done in group:
                    self._report(done)
            if s.eval_every and self.step % s.eval_every == 0:
                val = self.evaluate()
                if val is not None and self.on_metrics is not None:
                    self.on_metrics(dict(val, kind="eval"))
            if s.save_every and self.step % s.save_every == 0 and self.step < s.max_steps:
                self.save()
            if self.records is not None:
                self.records.restart_clock()
        if not self.val_history or self.val_history[-1]["step"] != self.step:
            val = self.evaluate()
            if val is not None and self.on_metrics is not None:
                self.on_metrics(dict(val, kind="eval"))
        if self.saved_step != self.step:  # a finished run re-run from its last checkpoint has nothing new
            self.save()
