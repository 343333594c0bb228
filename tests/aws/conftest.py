"""Fixtures for the AWS provider: moto (with the extensions in tests/emulators/aws) served on
loopback behind the fault layer, the environment pointing boto3 at it, a Deep Learning AMI
published as Amazon publishes it, and a provider built as the CLI builds it."""
from __future__ import annotations

import pytest

from tests.emulators.aws import AwsEmulator, Delays

FAST = Delays(provision=0.3, stop=0.2, delete=0.2)
ROLE = "arn:aws:iam::123456789012:role/nbctl-notebook"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/nbctl-scheduler"
CONFIG = {"region": "us-east-1", "role_arn": ROLE, "scheduler_role_arn": SCHEDULER_ROLE}


@pytest.fixture(scope="session")
def aws_server():
    emulator = AwsEmulator(delays=FAST).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emu(aws_server, monkeypatch):
    aws_server.reset()
    for key, value in aws_server.env().items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_REGION", "NBCTL_AWS_ROLE_ARN",
                "NBCTL_AWS_SCHEDULER_ROLE_ARN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NBCTL_POLL_INTERVAL", "0.05")
    aws_server.seed_dlami()
    yield aws_server


@pytest.fixture
def aws(emu):
    from nbctl_cloud.providers.aws import AwsProvider

    provider = AwsProvider(dict(CONFIG), owner="tester")
    yield provider
    provider.close()
