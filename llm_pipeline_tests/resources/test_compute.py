"""Compute resource: the device/precision/launch policy, and the Pipes launch contract."""

import sys

import dagster as dg
import pytest

from llm_pipeline_assets.config import ComputeConfig
from llm_pipeline_assets.resources.compute import ComputeResource, DeviceInfo, probe_device, select_runtime

CPU = DeviceInfo(cuda=False, gpus=0, names=(), capability=None)
H100 = DeviceInfo(cuda=True, gpus=1, names=("NVIDIA H100 80GB HBM3",), capability=(9, 0), torchao=True)
A100X4 = DeviceInfo(cuda=True, gpus=4, names=("NVIDIA A100",) * 4, capability=(8, 0), flash_attn=True)


def test_cpu_defaults():
    rt = select_runtime(CPU, ComputeConfig())
    assert (rt.device, rt.dtype, rt.fp8, rt.compile, rt.attn_implementation, rt.nproc, rt.fused_adamw) == (
        "cpu", "float32", None, False, "sdpa", 1, False)


def test_gpu_defaults_bf16_compile_fused_and_all_gpus():
    rt = select_runtime(A100X4, ComputeConfig())
    assert (rt.device, rt.dtype, rt.compile, rt.attn_implementation, rt.nproc, rt.fused_adamw) == (
        "cuda", "bfloat16", True, "flash_attention_2", 4, True)
    assert select_runtime(A100X4, ComputeConfig(nproc_per_node=2)).nproc == 2


def test_attention_auto_prefers_flash_then_flex_then_sdpa():
    both = DeviceInfo(cuda=True, gpus=1, names=("H100",), capability=(9, 0), flash_attn=True, flex_attention=True)
    flex = DeviceInfo(cuda=True, gpus=1, names=("H100",), capability=(9, 0), flex_attention=True)
    cpu_flex = DeviceInfo(cuda=False, gpus=0, names=(), capability=None, flex_attention=True)
    assert select_runtime(both, ComputeConfig()).attn_implementation == "flash_attention_2"
    assert select_runtime(flex, ComputeConfig()).attn_implementation == "flex_attention"
    assert select_runtime(H100, ComputeConfig()).attn_implementation == "sdpa"  # torch without flex
    assert select_runtime(cpu_flex, ComputeConfig()).attn_implementation == "sdpa"  # no flex backward on CPU
    assert select_runtime(flex, ComputeConfig(attn_implementation="sdpa")).attn_implementation == "sdpa"


def test_fp8_only_where_supported():
    assert select_runtime(H100, ComputeConfig(precision="fp8")).fp8 == "torchao"
    both = DeviceInfo(cuda=True, gpus=1, names=("H100",), capability=(9, 0), transformer_engine=True, torchao=True)
    assert select_runtime(both, ComputeConfig(precision="fp8")).fp8 == "torchao"  # the loop's recipe
    te_only = select_runtime(DeviceInfo(cuda=True, gpus=1, names=("H100",), capability=(9, 0), transformer_engine=True),
                             ComputeConfig(precision="fp8"))
    assert te_only.fp8 is None and te_only.dtype == "bfloat16" and "only Transformer Engine" in te_only.reason
    a100 = select_runtime(A100X4, ComputeConfig(precision="fp8"))
    assert a100.fp8 is None and a100.dtype == "bfloat16" and "fp8 needs" in a100.reason
    assert select_runtime(CPU, ComputeConfig(precision="fp8")).fp8 is None


def test_residual_stream_is_bf16_on_a_gpu_only():
    assert select_runtime(H100, ComputeConfig()).residual_dtype == "bfloat16"
    assert select_runtime(CPU, ComputeConfig()).residual_dtype == "float32"
    assert select_runtime(H100, ComputeConfig(residual_dtype="fp32")).residual_dtype == "float32"
    assert select_runtime(H100, ComputeConfig(precision="fp8")).residual_dtype == "bfloat16"  # fp8 = bf16 autocast
    fp32 = select_runtime(H100, ComputeConfig(precision="fp32", residual_dtype="bf16"))
    assert fp32.residual_dtype == "float32" and "residual_dtype bf16 needs bf16" in fp32.reason
    forced_cpu = select_runtime(CPU, ComputeConfig(residual_dtype="bf16"))
    assert forced_cpu.residual_dtype == "float32" and "residual_dtype" in forced_cpu.reason


def test_liger_kernels_only_when_asked_on_cuda_with_the_package():
    import dataclasses

    with_liger = dataclasses.replace(H100, liger_kernel=True)
    assert select_runtime(with_liger, ComputeConfig(liger_kernels=True)).liger_kernels is True
    assert select_runtime(with_liger, ComputeConfig()).liger_kernels is False  # off unless asked
    missing = select_runtime(H100, ComputeConfig(liger_kernels=True))
    assert missing.liger_kernels is False and "liger-kernel package" in missing.reason
    assert select_runtime(CPU, ComputeConfig(liger_kernels=True)).liger_kernels is False


def test_cuda_requested_without_gpu_fails_clearly():
    with pytest.raises(RuntimeError, match="compute.device is 'cuda'"):
        select_runtime(CPU, ComputeConfig(device="cuda"))


def test_probe_and_launch_commands_on_this_machine():
    info = probe_device(sys.executable)
    assert info.cuda is False and info.gpus == 0  # the CI machine has no GPU
    assert info.flex_attention is True  # torch 2.13 has flex_attention (used on CUDA only)
    res = ComputeResource()
    assert res.command("m.n", 1) == [sys.executable, "-m", "m.n"]
    cmd = res.command("m.n", 2)
    assert cmd[0].endswith("torchrun") and "--nproc-per-node=2" in cmd and cmd[-2:] == ["-m", "m.n"]


def test_child_that_reports_no_checkpoint_fails_the_step(tmp_path):
    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=2))  # as the training assets: not retried for this
    def silent(context: dg.AssetExecutionContext, compute: ComputeResource) -> dg.MaterializeResult:
        return compute.run(context, "llm_pipeline_tests.resources.silent_child", {}, select_runtime(CPU, ComputeConfig()))

    result = dg.materialize([silent], resources={"compute": ComputeResource()}, raise_on_error=False,
                            instance=dg.DagsterInstance.ephemeral())
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "exited without reporting ['checkpoint_uri']" in str(failure.step_failure_data.error.message)
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
