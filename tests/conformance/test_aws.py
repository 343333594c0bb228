"""The AWS provider passes the provider conformance kit against moto, once per backend:
SageMaker notebook instances (on-demand) and EC2 spot instances (--preemptible)."""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import CapacityError
from nbctl_cloud.model import InstanceSpec
from nbctl_cloud.testing.conformance import ProviderConformance

from tests.aws import conftest as aws_fixtures

aws_server = aws_fixtures.aws_server
emu = aws_fixtures.emu
aws = aws_fixtures.aws


class AwsConformance(ProviderConformance):
    preemptible = False
    # (service, action, error code, message as AWS sends it) of a refused create
    refusal: tuple[str, str, str, str] = ("", "", "", "")

    @pytest.fixture
    def provider(self, aws):
        return aws

    @pytest.fixture
    def make_spec(self, provider):
        return lambda name: InstanceSpec(name=name, provider="aws", gpu="t4", gpu_count=1,
                                         preemptible=self.preemptible, owner=provider.owner)

    @pytest.fixture
    def refuse_create(self, emu):
        def refuse(spec):
            service, action, code, message = self.refusal
            emu.inject(service, action, code, message, status=500 if code.startswith("Insuff")
                       else 400, times=None)
            return CapacityError
        return refuse


class TestAwsSageMakerConformance(AwsConformance):
    refusal = ("sagemaker", "CreateNotebookInstance", "ResourceInUse",
               "There is insufficient capacity for ml.g4dn.xlarge right now.")


class TestAwsEc2SpotConformance(AwsConformance):
    preemptible = True
    refusal = ("ec2", "RunInstances", "InsufficientInstanceCapacity",
               "We currently do not have sufficient g4dn.xlarge capacity in the Availability "
               "Zone you requested (us-east-1a). Our system will be working on provisioning "
               "additional capacity.")
