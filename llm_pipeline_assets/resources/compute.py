"""Compute resource: what hardware there is, which precision/attention/compile to use, and how to launch.

Training never runs in the Dagster step's own process. The step asks this resource to run a module of
the project as a child process through Dagster Pipes (``PipesSubprocessClient``): ``python -m …`` for one
process, ``torchrun --nproc-per-node N -m …`` for N GPUs (FSDP through accelerate in the child; Pipes is
opened on global rank 0 only). CUDA memory is freed when the child exits, and a retry starts a fresh child
that resumes from the latest checkpoint. Hardware is probed in a short child too, so the code location
never imports torch or initialises CUDA.

``launcher`` (the pipeline config's ``launcher`` section) moves the child elsewhere: ``ecs`` runs it as one
ECS task through dagster-aws's ``PipesECSClient``, ``k8s`` as one pod through dagster-k8s's ``PipesK8sClient``
(``launchers.py``). The remote hardware is declared there (``gpus``, ``gpu_compute_capability``,
``image_features``) instead of probed, and the same device/precision policy applies to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import dagster as dg

from llm_pipeline_assets.config_scaleout import IMAGE_FEATURES, TrainingLauncherConfig

_PROBE = r"""
import importlib.util, json
info = {"cuda": False, "gpus": 0, "names": [], "capability": None, "torch": None, "flex_attention": False}
try:
    import torch
    info["torch"] = torch.__version__
    info["flex_attention"] = importlib.util.find_spec("torch.nn.attention.flex_attention") is not None
    if torch.cuda.is_available():
        info.update(cuda=True, gpus=torch.cuda.device_count(),
                    names=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
                    capability=list(torch.cuda.get_device_capability(0)),
                    bf16=bool(torch.cuda.is_bf16_supported()))
except Exception as exc:
    info["error"] = repr(exc)
for mod in ("transformer_engine", "torchao", "flash_attn", "liger_kernel"):
    info[mod] = importlib.util.find_spec(mod) is not None
print(json.dumps(info))
"""


@dataclass(frozen=True)
class DeviceInfo:
    cuda: bool
    gpus: int
    names: tuple
    capability: tuple | None
    transformer_engine: bool = False
    torchao: bool = False
    flash_attn: bool = False
    liger_kernel: bool = False
    flex_attention: bool = False  # torch.nn.attention.flex_attention importable (torch >= 2.5)


@dataclass(frozen=True)
class Runtime:
    """The decisions a training child needs, passed to it as Pipes extras."""

    device: str
    dtype: str  # float32 | bfloat16
    fp8: str | None  # None | torchao (the recipe the pretraining loop trains with)
    compile: bool
    attn_implementation: str
    nproc: int
    fused_adamw: bool
    reason: str
    residual_dtype: str = "float32"  # bfloat16: the decoder layers' residual stream (PretrainSettings.residual_dtype)
    liger_kernels: bool = False  # Liger's Triton kernels in the decoder layers (PretrainSettings.liger_kernels)


@lru_cache(maxsize=4)
def probe_device(python: str = sys.executable) -> DeviceInfo:
    out = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=300, check=True)
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    cap = tuple(raw["capability"]) if raw.get("capability") else None
    return DeviceInfo(raw["cuda"], raw["gpus"], tuple(raw["names"]), cap, raw["transformer_engine"], raw["torchao"],
                      raw["flash_attn"], raw["liger_kernel"], bool(raw.get("flex_attention")))


def declared_device(launcher: TrainingLauncherConfig) -> DeviceInfo:
    """The hardware a remote launcher promises (it cannot be probed from the step's machine)."""
    cap = launcher.gpu_compute_capability
    capability = (int(cap), round((cap - int(cap)) * 10)) if cap is not None else None
    features = {name: name in launcher.image_features for name in IMAGE_FEATURES}
    names = (f"{launcher.kind}-declared GPU",) * launcher.gpus
    return DeviceInfo(launcher.gpus > 0, launcher.gpus, names, capability, **features)


def select_runtime(info: DeviceInfo, cfg) -> Runtime:
    """Pure policy from the hardware and ``compute`` config (unit-tested with fake DeviceInfo)."""
    want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and info.cuda)
    if cfg.device == "cuda" and not info.cuda:
        raise RuntimeError("compute.device is 'cuda' but no CUDA device is visible to the training process")
    reasons = []
    dtype = "bfloat16" if want_cuda else "float32"
    if cfg.precision == "fp32":
        dtype = "float32"
    elif cfg.precision == "bf16" and not want_cuda:
        reasons.append("bf16 requested on CPU: using fp32")
    fp8 = None
    if cfg.precision == "fp8":
        hopper = info.capability is not None and tuple(info.capability) >= (8, 9)
        # the pretraining loop trains FP8 through torchao; Transformer Engine alone is reported, not ignored
        if want_cuda and hopper and info.torchao:
            fp8 = "torchao"
        elif want_cuda and hopper and info.transformer_engine:
            reasons.append("fp8: only Transformer Engine is installed, and the pretraining loop runs FP8 through "
                           "torchao (pip install torchao): bf16")
        else:
            reasons.append("fp8 needs a GPU of compute capability >= 8.9 with torchao: bf16")
    compile_ = cfg.compile == "on" or (cfg.compile == "auto" and want_cuda)
    attn = cfg.attn_implementation
    # bf16 residual stream between the layers under bf16 autocast (Megatron's default): 124m on an H100,
    # 39.4 -> 40.9 % MFU; fp32 keeps the master weights' precision in the adds and norms
    residual = {"fp32": "float32", "bf16": "bfloat16"}.get(cfg.residual_dtype)
    if residual is None:
        residual = "bfloat16" if dtype == "bfloat16" and want_cuda else "float32"
    elif residual == "bfloat16" and dtype != "bfloat16":
        reasons.append(f"compute.residual_dtype bf16 needs bf16 precision (this run: {dtype}): fp32")
        residual = "float32"
    liger = bool(cfg.liger_kernels and want_cuda and info.liger_kernel)
    if cfg.liger_kernels and not liger:
        reasons.append("compute.liger_kernels needs CUDA and the liger-kernel package: not used")
    if attn == "auto":  # document masking: varlen flash > flex BlockMask (1.06x the SDPA mask on an H100) > SDPA
        attn = "sdpa"
        if want_cuda and info.flash_attn:
            attn = "flash_attention_2"
        elif want_cuda and info.flex_attention:
            attn = "flex_attention"
    nproc = (cfg.nproc_per_node or info.gpus) if want_cuda else 1
    return Runtime("cuda" if want_cuda else "cpu", dtype, fp8, compile_, attn, max(nproc, 1), want_cuda,
                   "; ".join(reasons) or "default policy", residual, liger)


def package_root() -> str:
    import llm_pipeline_assets

    return str(Path(llm_pipeline_assets.__file__).resolve().parents[1])


class ComputeResource(dg.ConfigurableResource):
    """Launches training children; ``python`` is the interpreter that has torch (default: this one)."""

    python: str = sys.executable
    torchrun: str | None = None  # default: the torchrun next to `python`
    launcher: TrainingLauncherConfig = TrainingLauncherConfig()  # subprocess (default) | ecs | k8s

    def device_info(self) -> DeviceInfo:
        if self.launcher.kind != "subprocess":
            return declared_device(self.launcher)
        return probe_device(self.python)

    def runtime(self, cfg) -> Runtime:
        return select_runtime(self.device_info(), cfg)

    def command(self, module: str, nproc: int) -> list[str]:
        if nproc <= 1:
            return [self.python, "-m", module]
        torchrun = self.torchrun or str(Path(self.python).with_name("torchrun"))
        if not Path(torchrun).exists() and not shutil.which(torchrun):
            raise RuntimeError(f"{nproc} processes requested but torchrun was not found at {torchrun}")
        return [torchrun, "--standalone", f"--nproc-per-node={nproc}", "-m", module]

    def run(self, context: dg.AssetExecutionContext, module: str, extras: dict, runtime: Runtime,
            required: tuple[str, ...] = ("checkpoint_uri",)) -> dg.MaterializeResult:
        """Run ``module`` under Pipes; fail the step if the child reported none of ``required`` metadata."""
        extras = {**extras, "runtime": asdict(runtime)}
        if self.launcher.kind == "subprocess":
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root(),
                                                                             os.environ.get("PYTHONPATH")]))}
            env.setdefault("HF_HUB_OFFLINE", "1")
            client = dg.PipesSubprocessClient(env=env, forward_termination=True)
            invocation = client.run(context=context, command=self.command(module, runtime.nproc), extras=extras)
        else:
            from llm_pipeline_assets.resources import launchers

            launcher = self.launcher
            launchers.check_shared_paths(extras, launcher.shared_dir)
            python = getattr(launcher, launcher.kind).python
            launch = {"ecs": launchers.launch_ecs, "k8s": launchers.launch_k8s}[launcher.kind]
            invocation = launch(context, launcher, launchers.remote_command(python, module, runtime.nproc), extras)
        result = invocation.get_materialize_result()
        missing = [k for k in required if k not in (result.metadata or {})]
        if missing:
            # it exited normally without its result: a rerun of the same code would do the same
            raise dg.Failure(f"{module} exited without reporting {missing}: no checkpoint was produced",
                             allow_retries=False)
        return result
