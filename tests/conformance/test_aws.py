"""The AWS provider passes the provider conformance kit against moto, once per backend:
SageMaker notebook instances (on-demand) and EC2 spot instances (--preemptible)."""
from __future__ import annotations

import pytest
from nbctl_cloud.errors import CapacityError, QuotaError
from nbctl_cloud.model import InstanceSpec
from nbctl_cloud.testing.conformance import ProviderConformance

from tests.aws import conftest as aws_fixtures

aws_server = aws_fixtures.aws_server
emu = aws_fixtures.emu
aws = aws_fixtures.aws


class AwsConformance(ProviderConformance):
    preemptible = False
    # (service, action, error code, message as AWS sends it) of a refused create, and the
    # nbctl error it maps to
    refusal: tuple[str, str, str, str] = ("", "", "", "")
    refused_as: type = CapacityError

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
            return self.refused_as
        return refuse


class TestAwsSageMakerConformance(AwsConformance):
    # SageMaker refuses a create synchronously for quota; capacity comes later, as a Failed
    # notebook (tests/aws/test_sagemaker_capacity.py)
    refusal = ("sagemaker", "CreateNotebookInstance", "ResourceLimitExceeded",
               "The account-level service limit 'ml.g4dn.xlarge for notebook instance usage' "
               "is 0 Instances, with current utilization of 0 Instances and a request delta of "
               "1 Instances. Please use AWS Service Quotas to request an increase for this "
               "quota.")
    refused_as = QuotaError


class TestAwsEc2SpotConformance(AwsConformance):
    preemptible = True
    refusal = ("ec2", "RunInstances", "InsufficientInstanceCapacity",
               "We currently do not have sufficient g4dn.xlarge capacity in the Availability "
               "Zone you requested (us-east-1a). Our system will be working on provisioning "
               "additional capacity.")
