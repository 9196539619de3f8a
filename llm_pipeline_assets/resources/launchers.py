"""Run a training child in an ECS task (dagster-aws ``PipesECSClient``) or a Kubernetes pod (dagster-k8s).

The step keeps doing what it does with the default subprocess launcher — resolve inputs into local folders,
run the child, publish its output folder — so the child must see the same paths: the step's cache folder
(``LLM_PIPELINE_CACHE_DIR``) lies on a volume that the training task mounts at the same path
(``launcher.shared_dir``: EFS in the task definition, a ReadWriteMany claim in the pod). ``check_shared_paths``
refuses to launch when a folder the child is given lies elsewhere, instead of a child failing later on a
missing file. Pipes messages come back through CloudWatch (ECS: the container's ``awslogs`` log
configuration) or the pod's logs (Kubernetes). No credential is put into a task or pod: they run with their
own IAM role / service account.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

# What the child gets in its environment besides the Pipes bootstrap variables (never the step's AWS keys).
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
K8S_CONTAINER = "trainer"


def remote_command(python: str, module: str, nproc: int) -> list[str]:
    """The child's command inside the image: ``python -m module``, or torch's launcher for several GPUs."""
    if nproc <= 1:
        return [python, "-m", module]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", module]


def _absolute_paths(value: Any, key: str = "extras"):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _absolute_paths(v, f"{key}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _absolute_paths(v, f"{key}[{i}]")
    elif isinstance(value, str) and value.startswith("/"):
        yield key, value


def check_shared_paths(extras: dict, shared_dir: str) -> None:
    """Fail (naming the extra) if the child would be handed a path outside the shared volume."""
    root = shared_dir.rstrip("/") + "/"
    outside = [(k, p) for k, p in _absolute_paths(extras) if not (p.rstrip("/") + "/").startswith(root)]
    if outside:
        listed = ", ".join(f"{k}={p}" for k, p in outside[:5])
        raise dg.Failure(f"the training container only sees {shared_dir} (launcher.shared_dir), but it would be "
                         f"given {listed}: put the artifact root (LLM_PIPELINE_ROOT, a local root) or, with an "
                         f"s3:// root, LLM_PIPELINE_CACHE_DIR (the store's cache_dir) under {shared_dir}")


def ecs_run_task_params(launcher, command: list[str], env: dict[str, str]) -> dict:
    """``ecs:RunTask`` parameters for one training task (PipesECSClient adds the Pipes variables and tags)."""
    ecs = launcher.ecs
    override: dict[str, Any] = {"name": ecs.container_name, "command": list(command),
                                "environment": [{"name": k, "value": v} for k, v in sorted(env.items())]}
    if launcher.gpus:
        override["resourceRequirements"] = [{"type": "GPU", "value": str(launcher.gpus)}]
    params: dict[str, Any] = {"cluster": ecs.cluster, "taskDefinition": ecs.task_definition, "count": 1,
                              "overrides": {"containerOverrides": [override]}}
    if ecs.capacity_provider:
        params["capacityProviderStrategy"] = [{"capacityProvider": ecs.capacity_provider, "weight": 1}]
    else:
        params["launchType"] = ecs.launch_type
    if ecs.subnets:
        params["networkConfiguration"] = {"awsvpcConfiguration": {
            "subnets": list(ecs.subnets), "securityGroups": list(ecs.security_groups),
            "assignPublicIp": "ENABLED" if ecs.assign_public_ip else "DISABLED"}}
    return params


def aws_client(service: str, region_name: str | None):
    """A boto3 client with credentials from the environment / task role (tests replace this function)."""
    import boto3

    return boto3.client(service, region_name=region_name)


def launch_ecs(context: dg.AssetExecutionContext, launcher, command: list[str], extras: dict):
    """Run the child as one ECS task and wait for it; the completed Pipes invocation."""
    from dagster_aws.pipes import PipesCloudWatchMessageReader, PipesECSClient

    region = launcher.ecs.region_name
    client = PipesECSClient(client=aws_client("ecs", region),
                            message_reader=PipesCloudWatchMessageReader(client=aws_client("logs", region)),
                            forward_termination=True)
    params = ecs_run_task_params(launcher, command, CHILD_ENV)
    context.log.info(f"launching {command[-1]} on ECS cluster {launcher.ecs.cluster} "
                     f"({launcher.ecs.task_definition}, container {launcher.ecs.container_name})")
    return client.run(context=context, run_task_params=params, extras=extras,
                      pipes_container_name=launcher.ecs.container_name,
                      waiter_config={"Delay": launcher.ecs.poll_seconds, "MaxAttempts": 10_000_000})


def k8s_base_pod_spec(launcher) -> dict:
    """The pod around the child: GPUs, the shared volume at ``shared_dir``, the service account."""
    k8s = launcher.k8s
    container: dict[str, Any] = {"name": K8S_CONTAINER,
                                 "volumeMounts": [{"name": "shared", "mountPath": launcher.shared_dir}]}
    if launcher.gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": launcher.gpus}}
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container],
                            "volumes": [{"name": "shared",
                                         "persistentVolumeClaim": {"claimName": k8s.shared_volume_claim}}]}
    if k8s.service_account:
        spec["serviceAccountName"] = k8s.service_account
    return spec


def launch_k8s(context: dg.AssetExecutionContext, launcher, command: list[str], extras: dict):
    """Run the child as one pod (dagster-k8s ``PipesK8sClient``); the completed Pipes invocation."""
    try:
        from dagster_k8s import PipesK8sClient
    except ImportError:
        raise dg.Failure("launcher.kind 'k8s' needs dagster-k8s: pip install dagster-k8s==0.29.27") from None
    k8s = launcher.k8s
    context.log.info(f"launching {command[-1]} as a pod in namespace {k8s.namespace} ({k8s.image})")
    return PipesK8sClient().run(context=context, extras=extras, image=k8s.image, command=command,
                                namespace=k8s.namespace, env=dict(CHILD_ENV), base_pod_spec=k8s_base_pod_spec(launcher),
                                pod_wait_timeout=k8s.pod_wait_timeout_hours * 3600)
