"""Checkpoint storage for the tests: a local directory, S3 on moto, GCS on gcp-storage-emulator,
and `gated://`, an in-memory fsspec filesystem whose writes wait on a gate and can be made to fail.
"""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.checkpoint.helpers import free_port

# -- S3 on moto ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def moto_endpoint():
    pytest.importorskip("s3fs", reason="s3:// checkpoints need s3fs: pip install s3fs")
    moto_server = pytest.importorskip("moto.server",
                                      reason="the S3 emulator needs moto: pip install -e '.[test]'")
    # Port 0: the system picks a free port as it binds (a port picked first and bound later
    # can be taken meanwhile by another worker's server).
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _MOTO.append(server)
    yield "http://%s:%d" % server.get_host_and_port()
    server.stop()


_MOTO: list = []


@pytest.fixture
def s3_url(moto_endpoint, monkeypatch):
    server = _MOTO[-1]
    assert server._thread.is_alive(), "the S3 emulator's server thread has ended"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    import boto3

    bucket = f"ckpt-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/runs/r1"


# -- GCS on gcp-storage-emulator ------------------------------------------------------------------

GCS_BUCKET = "nbctl-ckpt"


@pytest.fixture(scope="session")
def gcs_endpoint():
    pytest.importorskip("gcsfs", reason="gs:// checkpoints need gcsfs: pip install gcsfs")
    emulator = pytest.importorskip("gcp_storage_emulator.server",
                                   reason="the GCS emulator needs gcp-storage-emulator")
    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True, default_bucket=GCS_BUCKET)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def gs_url(gcs_endpoint, monkeypatch):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)  # gcsfs talks to the emulator
    monkeypatch.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    return f"gs://{GCS_BUCKET}/{uuid.uuid4().hex[:12]}/r1"


@pytest.fixture(params=["local", "s3", "gs"])
def any_url(request, tmp_path):
    """The same behaviour, checked on every kind of storage a job may use."""
    if request.param == "local":
        return str(tmp_path / "ckpt")
    return request.getfixturevalue(f"{request.param}_url")


# -- gated://: writes that wait, or fail, on the test's say ---------------------------------------

def _gated_fs_class():
    from fsspec.implementations.memory import MemoryFileSystem

    class GatedFileSystem(MemoryFileSystem):
        """In memory; every file opened for writing waits for `gate`, and raises `fail` if set."""

        protocol = "gated"
        store: dict = {}
        pseudo_dirs = [""]
        gate = threading.Event()
        fail: BaseException | None = None
        writing = 0
        most_writing = 0
        counter_lock = threading.Lock()

        @classmethod
        def _strip_protocol(cls, path):
            if path.startswith("gated://"):
                path = path[len("gated://"):]
            return MemoryFileSystem._strip_protocol(path)

        def _open(self, path, mode="rb", **kwargs):
            if "w" not in mode:
                return super()._open(path, mode, **kwargs)
            cls = type(self)
            with cls.counter_lock:
                cls.writing += 1
                cls.most_writing = max(cls.most_writing, cls.writing)
            try:
                if not cls.gate.wait(timeout=20):
                    raise TimeoutError("the test never opened the gate")
                if cls.fail is not None:
                    raise cls.fail
                return super()._open(path, mode, **kwargs)
            finally:
                with cls.counter_lock:
                    cls.writing -= 1

    return GatedFileSystem


@pytest.fixture
def gated_fs():
    """The gated:// filesystem class, empty, gate open, no failure."""
    import fsspec

    cls = _gated_fs_class()
    fsspec.register_implementation("gated", cls, clobber=True)
    cls.store.clear()
    cls.gate.set()
    yield cls
    cls.gate.set()
    cls.fail = None
    cls.store.clear()

