"""Start ``dagster dev`` for tests and scripts: own process group, free loopback port, stopped by pid.

The server gets its own DAGSTER_HOME (seeded from ``dagster.yaml.example``), artifact root and pipeline config,
so a test or a screenshot never touches the operator's instance. ``dagster dev`` spawns the webserver, the
daemon, a code server and run workers; they all stay in the process group we create, so stopping the group
by its id stops every one of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from llm_pipeline_assets.webui_client import graphql, wait_for_location

REPO = Path(__file__).resolve().parents[1]
LOCATION = "llm_pipeline"  # workspace.yaml's location_name
DAGSTER = Path(sys.executable).with_name("dagster")


@dataclass(frozen=True)
class DevServer:
    url: str  # http://127.0.0.1:<port>
    pid: int  # of dagster dev, which is also the id of the process group holding all its children


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(dagster_home: Path, root: Path | str, config: Path | str | None = None) -> dict[str, str]:
    """Environment for a throw-away instance: DAGSTER_HOME seeded with dagster.yaml.example, offline, no telemetry."""
    dagster_home = Path(dagster_home)
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        shutil.copyfile(REPO / "dagster.yaml.example", dagster_home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "LLM_PIPELINE_ROOT": str(root),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "DAGSTER_DISABLE_TELEMETRY": "1",
           # workspace.yaml names a module: make it importable even where the package is not pip-installed.
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    if config is not None:
        env["LLM_PIPELINE_CONFIG"] = str(config)
    return env


def _log_tail(log_path: Path, chars: int = 4000) -> str:
    try:
        return log_path.read_text(errors="replace")[-chars:]
    except OSError:
        return "<no log>"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member exists but belongs to someone else: still alive
        return True
    return True


def stop_process_group(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM the group led by ``proc`` (started with ``start_new_session=True``), SIGKILL what is left.

    SIGTERM lets dagster dev shut its children down cleanly; a no-op when the group has already exited."""
    pgid = proc.pid  # start_new_session=True: the leader's pid is the group id
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(pgid):
            return
        time.sleep(0.2)
    _signal_group(pgid, signal.SIGKILL)
    proc.wait(timeout=10)
    # killed members that the leader had spawned are reparented and reaped a moment later: wait for that,
    # so "stopped" means no process of the group is left (a caller may check with killpg(pgid, 0))
    deadline = time.monotonic() + 10.0
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:  # everyone already left
        pass


def wait_until_answers(url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    """Poll the webserver's GraphQL endpoint until it answers and the code location has loaded."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}:\n{_log_tail(log_path)}")
        try:
            graphql(url, "{ version }", timeout_s=5)
            break
        except OSError as exc:  # connection refused / reset while it boots
            last_error = exc
            time.sleep(0.5)
    else:
        raise TimeoutError(f"dagster dev did not answer at {url} in {timeout_s:.0f}s ({last_error}):\n"
                           f"{_log_tail(log_path)}")
    wait_for_location(url, LOCATION, timeout_s=max(deadline - time.monotonic(), 5.0))


@contextmanager
def dagster_dev(env: dict[str, str], log_path: Path, timeout_s: float = 180.0) -> Iterator[DevServer]:
    """Run ``dagster dev -w workspace.yaml`` on a free loopback port; yield it once it answers; stop it by its group."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(DAGSTER), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port),
           "--log-level", "warning"]
    with open(log_path, "ab") as log:  # a file, not a pipe: nobody has to drain it for the server to go on
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answers(url, proc, Path(log_path), timeout_s)
        yield DevServer(url=url, pid=proc.pid)
    finally:
        stop_process_group(proc)
