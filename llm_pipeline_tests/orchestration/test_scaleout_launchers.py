"""Launching at scale: the run launchers of deploy/*/dagster.yaml, and the compute resource's training launchers
(subprocess (default) | ecs (PipesECSClient) | k8s (PipesK8sClient)).

deploy/*/dagster.yaml are validated the way Dagster validates an instance file, plus each pluggable class's own
config schema (EcsRunLauncher, S3ComputeLogManager, QueuedRunCoordinator), so a typo fails CI.
``DagsterInstance.from_config`` is not used: it would connect to Postgres and ECS. Dagster's instance schema
checks ``storage``, ``concurrency``, ``run_retries``, ``run_monitoring`` fully but a ``run_launcher`` only as
module/class/config; the class's ``config_type()`` is what its constructor is validated against.

The ECS training path runs for real up to the AWS API: ``PipesECSClient.run`` with a boto3 ECS client whose
calls are answered by botocore's ``Stubber`` (which also validates every request against the ECS API model).
The stubbed task stops without the child having reported anything, so the step must fail: no training result
is ever faked here.
"""

import copy
import importlib.util
import json
import shutil
from pathlib import Path

import boto3
import dagster as dg
import pytest
import yaml
from botocore.stub import Stubber
from dagster_pipes import decode_env_var

from llm_pipeline_assets.config import ComputeConfig, ConfigError
from llm_pipeline_assets.config_scaleout import K8sLaunchConfig, TrainingLauncherConfig
from llm_pipeline_assets.definitions import build_definitions
from llm_pipeline_assets.resources import launchers
from llm_pipeline_assets.resources.compute import ComputeResource, select_runtime
from llm_pipeline_tests.conftest import small_config
from llm_pipeline_tests.reliability.helpers import step_failure_messages
from llm_pipeline_tests.s3server import SECRET

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PLUGGABLE = ("run_launcher", "run_coordinator", "compute_logs", "run_storage", "event_log_storage", "scheduler")
MODULE = "llm_pipeline_assets.runners.pretrain"
TASK = "arn:aws:ecs:us-east-1:123456789012:task/gpu-cluster/0123456789abcdef"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/gpu-cluster"
ECS = {"cluster": "gpu-cluster", "task_definition": "llm-train:7", "container_name": "trainer",
       "subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"]}


def validate_instance_file(path: Path, home: Path) -> dict:
    """The instance config of ``path`` (a dagster.yaml), or DagsterInvalidConfigError naming the bad key."""
    from dagster._config import validate_config
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes import class_from_code_pointer

    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, home / "dagster.yaml")
    config, _ = dagster_instance_config(str(home))
    for section in PLUGGABLE:
        if section not in config:
            continue
        spec = config[section]
        if importlib.util.find_spec(spec["module"].split(".")[0]) is None:
            continue  # documented-only integration (dagster-k8s); the module/class shape was still checked
        cls = class_from_code_pointer(spec["module"], spec["class"])
        result = validate_config(cls.config_type(), spec.get("config") or {})
        if not result.success:
            raise DagsterInvalidConfigError(f"{path}: {section} ({spec['class']})", result.errors, spec.get("config"))
    return config


def test_ecs_instance_file_is_valid_and_says_what_it_should(tmp_path):
    config = validate_instance_file(DEPLOY / "ecs" / "dagster.yaml", tmp_path / "home")
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    assert "LLM_PIPELINE_ROOT" in launcher["config"]["env_vars"]
    assert launcher["config"]["task_definition"]["mount_points"][0]["containerPath"] == "/mnt/shared"
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert config["concurrency"]["pools"]["default_limit"] == 1 and config["run_retries"]["max_retries"] == 1
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 4
    text = (DEPLOY / "ecs" / "dagster.yaml").read_text()
    assert "aws_secret_access_key" not in text.lower() and "AWS_SECRET" not in text


@pytest.mark.parametrize("section, typo, named", [
    ("run_launcher.config", {"task_definiton": "llm-run"}, "task_definiton"),  # the launcher's own schema
    ("run_launcher.config", {"container_name": 5}, "container_name"),
    ("compute_logs.config", {"bucket_name": "x"}, "bucket_name"),
    ("storage.postgres.postgres_db", {"hostnme": "db"}, "hostnme"),  # the instance schema
    ("run_monitoring", {"max_runtime": 3600}, "max_runtime"),
    ("", {"run_launchr": {"module": "dagster_aws.ecs", "class": "EcsRunLauncher"}}, "run_launchr"),
])
def test_a_typo_in_the_ecs_file_fails_naming_it(tmp_path, section, typo, named):
    from dagster._core.errors import DagsterInvalidConfigError

    data = yaml.safe_load((DEPLOY / "ecs" / "dagster.yaml").read_text())
    node = data
    for key in filter(None, section.split(".")):
        node = node[key]
    node.update(typo)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(DagsterInvalidConfigError, match=named):
        validate_instance_file(bad, tmp_path / "home")


def test_k8s_instance_file_is_valid_as_far_as_installed_dagster_can_tell(tmp_path):
    config = validate_instance_file(DEPLOY / "k8s" / "dagster.yaml", tmp_path / "home")
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert launcher["config"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "llm-pipeline-shared"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"


def ecs_launcher(**overrides) -> TrainingLauncherConfig:
    data = {"kind": "ecs", "shared_dir": "/mnt/shared", "gpus": 2, "gpu_compute_capability": 9.0,
            "image_features": ["torchao", "flash_attn"], "ecs": ECS}
    data.update(overrides)
    return TrainingLauncherConfig.model_validate(data)


@pytest.mark.parametrize("launcher, message", [
    ({"kind": "ecs", "shared_dir": "/mnt/shared"}, "launcher.ecs is not set"),
    ({"kind": "ecs", "ecs": ECS}, "needs launcher.shared_dir"),
    ({"kind": "ecs", "shared_dir": "relative/dir", "ecs": ECS}, "needs launcher.shared_dir"),
    ({"kind": "ecs", "shared_dir": "/m", "gpus": 1, "ecs": {**ECS, "launch_type": "FARGATE"}},
     "Fargate tasks have no GPUs"),
    ({"kind": "ecs", "shared_dir": "/m", "ecs": {**ECS, "subnets": [], "launch_type": "FARGATE"}},
     "subnets is required"),
    ({"kind": "ecs", "shared_dir": "/m", "ecs": {**ECS, "clustr": "x"}}, "launcher.ecs.clustr: Extra inputs"),
    ({"kind": "subprocess", "ecs": ECS}, "launcher.ecs is set but launcher.kind is 'subprocess'"),
    ({"kind": "fargate"}, "launcher.kind: Input should be"),
    ({"kind": "ecs", "shared_dir": "/m", "ecs": ECS, "image_features": ["flash-attn"]}, "unknown image_features"),
])
def test_launcher_config_is_validated_when_the_config_loads(launcher, message):
    with pytest.raises(ConfigError, match=message):
        small_config(launcher=launcher)


def test_a_cuda_run_on_a_remote_launcher_must_declare_its_gpus():
    """launcher.gpus defaults to 0: with compute.device cuda the config loaded and the training step failed with
    "no CUDA device is visible", naming neither key."""
    with pytest.raises(ConfigError, match=r"compute.device is 'cuda' but launcher.gpus is 0: the ecs training"):
        small_config(launcher={"kind": "ecs", "shared_dir": "/m", "ecs": ECS}, compute={"device": "cuda"})
    assert small_config(launcher={"kind": "ecs", "shared_dir": "/m", "ecs": ECS, "gpus": 1},
                        compute={"device": "cuda"}).launcher.gpus == 1


@pytest.mark.skipif(importlib.util.find_spec("dagster_k8s") is not None, reason="dagster-k8s is installed")
def test_k8s_launcher_without_dagster_k8s_fails_at_load_naming_the_package():
    k8s = {"image": "registry/llm:1", "shared_volume_claim": "shared"}
    with pytest.raises(ConfigError, match="pip install dagster-k8s==0.29.27"):
        small_config(launcher={"kind": "k8s", "shared_dir": "/mnt/shared", "k8s": k8s})


def test_remote_hardware_is_declared_and_the_same_policy_applies():
    compute = ComputeResource(launcher=ecs_launcher())
    info = compute.device_info()  # no probe: the step's machine is not the training machine
    assert (info.cuda, info.gpus, info.capability, info.torchao, info.flash_attn, info.transformer_engine) == (
        True, 2, (9, 0), True, True, False)
    rt = select_runtime(info, ComputeConfig(precision="fp8"))
    assert (rt.device, rt.dtype, rt.fp8, rt.nproc, rt.attn_implementation) == (
        "cuda", "bfloat16", "torchao", 2, "flash_attention_2")
    assert launchers.remote_command("python", MODULE, 2) == [
        "python", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", MODULE]
    assert launchers.remote_command("/opt/venv/bin/python", MODULE, 1) == ["/opt/venv/bin/python", "-m", MODULE]


def test_definitions_hand_the_config_launcher_to_the_compute_resource():
    cfg = small_config(launcher={"kind": "ecs", "shared_dir": "/mnt/shared", "ecs": ECS})
    compute = build_definitions(cfg, root="/tmp/unused-root").resources["compute"]
    assert compute.launcher.kind == "ecs" and compute.launcher.ecs.task_definition == "llm-train:7"


def test_paths_outside_the_shared_volume_are_refused_before_launch():
    launchers.check_shared_paths({"out_dir": "/mnt/shared/cache/x", "gate": {"eval_dir": "/mnt/shared/e"}},
                                 "/mnt/shared")
    with pytest.raises(dg.Failure, match=r"extras.gate.packed_dir=/tmp/cache/packed.*LLM_PIPELINE_CACHE_DIR"):
        launchers.check_shared_paths({"out_dir": "/mnt/shared/o", "gate": {"packed_dir": "/tmp/cache/packed"}},
                                     "/mnt/shared")
    with pytest.raises(dg.Failure):  # a sibling folder that merely starts with the same letters
        launchers.check_shared_paths({"out_dir": "/mnt/shared-other/o"}, "/mnt/shared")


def test_k8s_pod_spec_mounts_the_shared_claim_and_asks_for_gpus():
    k8s = K8sLaunchConfig(image="registry/llm:1", shared_volume_claim="llm-shared", service_account="trainer-sa")
    # model_construct: the launcher's own check (dagster-k8s installed) is not what is tested here
    cfg = TrainingLauncherConfig.model_construct(kind="k8s", shared_dir="/mnt/shared", gpus=4, k8s=k8s)
    spec = launchers.k8s_base_pod_spec(cfg)
    (container,) = spec["containers"]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 4}}
    assert container["volumeMounts"] == [{"name": "shared", "mountPath": "/mnt/shared"}]
    assert spec["volumes"] == [{"name": "shared", "persistentVolumeClaim": {"claimName": "llm-shared"}}]
    assert spec["serviceAccountName"] == "trainer-sa" and spec["restartPolicy"] == "Never"


def stubbed_ecs(monkeypatch, exit_code: int):
    """boto3 clients answering like ECS would for one task that ran and stopped with ``exit_code``."""
    ecs, logs = boto3.client("ecs", region_name="us-east-1"), boto3.client("logs", region_name="us-east-1")
    stub = Stubber(ecs)
    stub.add_response("describe_task_definition", {"taskDefinition": {"containerDefinitions": [
        {"name": "trainer", "image": "registry/llm:1"}]}}, {"taskDefinition": "llm-train:7"})
    stub.add_response("run_task", {"tasks": [{"taskArn": TASK, "clusterArn": CLUSTER,
                                              "containers": [{"name": "trainer"}]}], "failures": []})
    stopped = {"tasks": [{"taskArn": TASK, "clusterArn": CLUSTER, "lastStatus": "STOPPED",
                          "containers": [{"name": "trainer", "exitCode": exit_code, "runtimeId": "rt-1"}]}]}
    for _ in range(2):  # the tasks_stopped waiter, then the final describe
        stub.add_response("describe_tasks", stopped, {"tasks": [TASK], "cluster": "gpu-cluster"})
    stub.activate()
    Stubber(logs).activate()  # no log configuration in the task definition: CloudWatch is never asked
    sent: list[dict] = []
    ecs.meta.events.register("provide-client-params.ecs.RunTask",
                             lambda params, **kw: sent.append(copy.deepcopy(params)))
    monkeypatch.setattr(launchers, "aws_client", lambda service, region: {"ecs": ecs, "logs": logs}[service])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # present in the step's environment ...
    return stub, sent


def train_on_ecs():
    @dg.asset
    def trained(context: dg.AssetExecutionContext, compute: ComputeResource) -> dg.MaterializeResult:
        runtime = compute.runtime(ComputeConfig())
        return compute.run(context, MODULE, {"stage": "pretrain", "out_dir": "/mnt/shared/cache/_work/p"}, runtime)

    return dg.materialize([trained], resources={"compute": ComputeResource(launcher=ecs_launcher())},
                          raise_on_error=False, instance=dg.DagsterInstance.ephemeral())


def test_ecs_launch_sends_the_real_run_task_request_and_fails_without_a_checkpoint(monkeypatch):
    stub, sent = stubbed_ecs(monkeypatch, exit_code=0)
    result = train_on_ecs()
    stub.assert_no_pending_responses()  # describe, run, wait, describe: the whole ECS conversation happened
    assert not result.success  # the task "succeeded" but reported no checkpoint: the step must not pass
    assert f"{MODULE} exited without reporting ['checkpoint_uri']" in "\n".join(step_failure_messages(result))

    (params,) = sent
    assert (params["cluster"], params["taskDefinition"], params["count"], params["launchType"]) == (
        "gpu-cluster", "llm-train:7", 1, "EC2")
    assert params["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}
    (override,) = params["overrides"]["containerOverrides"]
    assert override["name"] == "trainer" and override["resourceRequirements"] == [{"type": "GPU", "value": "2"}]
    assert override["command"] == ["python", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                                   "-m", MODULE]
    env = {e["name"]: e["value"] for e in override["environment"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    context = decode_env_var(env["DAGSTER_PIPES_CONTEXT"])["data"]  # the context the child will open
    assert context["asset_keys"] == ["trained"]
    extras = context["extras"]
    assert extras["out_dir"] == "/mnt/shared/cache/_work/p" and extras["stage"] == "pretrain"
    runtime = extras["runtime"]
    assert (runtime["device"], runtime["dtype"], runtime["nproc"]) == ("cuda", "bfloat16", 2)
    assert decode_env_var(env["DAGSTER_PIPES_MESSAGES"]) == {"stdio": "stdout"}  # read back from CloudWatch
    assert any(t["key"] == "dagster/run-id" for t in params["tags"])
    assert SECRET not in json.dumps(params)  # ... but never sent to ECS


def test_ecs_task_that_exits_non_zero_fails_the_step(monkeypatch):
    stub, _ = stubbed_ecs(monkeypatch, exit_code=137)
    result = train_on_ecs()
    stub.assert_no_pending_responses()
    assert not result.success and "non-zero exit code" in "\n".join(step_failure_messages(result))
