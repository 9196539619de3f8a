"""stop_process_group: "stopped" means no process of the group is left, also after a SIGKILL."""

import os
import subprocess
import time

import pytest

from llm_pipeline_assets.devserver import stop_process_group


def test_a_group_that_ignores_sigterm_is_killed_and_gone_when_stop_returns():
    # the members ignore SIGTERM, so the grace period runs out and SIGKILL follows; the killed children are
    # reparented and reaped by the machine's init some time after their leader (1.1 s measured here)
    proc = subprocess.Popen(["bash", "-c", 'trap "" TERM; sleep 60 & sleep 60 & wait'], start_new_session=True)
    time.sleep(0.5)
    stop_process_group(proc, grace_s=0.5)
    assert proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def test_a_group_that_exits_on_sigterm_stops_within_the_grace_period():
    proc = subprocess.Popen(["bash", "-c", "sleep 60 & wait"], start_new_session=True)
    time.sleep(0.3)
    start = time.monotonic()
    stop_process_group(proc, grace_s=20.0)
    assert time.monotonic() - start < 15.0
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)
