"""The AWS listing behind `status --refresh` asks the same number of requests whatever the
number of notebooks: SageMaker's tags come from the Resource Groups Tagging API's GetResources
(one page for the lot), not from a ListTags per notebook."""
from __future__ import annotations

from collections import Counter

import boto3
import pytest

from tests.aws.conftest import CONFIG, ROLE


def notebooks(n: int, owner: str = "tester", start: int = 0) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    for i in range(start, start + n):
        tags = [{"Key": "nbctl-name", "Value": f"nb{i}"}, {"Key": "nbctl-owner", "Value": owner},
                {"Key": "nbctl-spec-hash", "Value": "0123abcd"}]
        sm.create_notebook_instance(NotebookInstanceName=f"nb{i}", InstanceType="ml.t3.medium",
                                    RoleArn=ROLE, Tags=tags)


def listing(emu) -> tuple[list[str], Counter]:
    from nbctl_cloud.providers.aws import AwsProvider

    provider = AwsProvider(dict(CONFIG), owner="tester")  # a fresh process: no tags known
    before = len(emu.calls())
    try:
        found = provider.list({"nbctl-owner": "tester"})
    finally:
        provider.close()
    asked = Counter(f"{c.service}:{c.action}" for c in emu.calls()[before:])
    return sorted(i.name for i in found if i.backend == "sagemaker"), asked


@pytest.mark.parametrize("count", [2, 12])
def test_the_sagemaker_listing_costs_the_same_requests_for_any_number_of_notebooks(emu, count):
    boto3.client("sagemaker", region_name="us-east-1").create_notebook_instance(
        NotebookInstanceName="not-ours", InstanceType="ml.t3.medium", RoleArn=ROLE)
    notebooks(1, owner="someone-else", start=100)
    notebooks(count)
    names, asked = listing(emu)
    assert names == sorted(f"nb{i}" for i in range(count))
    assert asked == Counter({"sagemaker:ListNotebookInstances": 1, "tagging:GetResources": 1,
                             "ec2:DescribeInstances": 1})


def test_the_tagging_pages_are_all_followed(emu):
    notebooks(40)  # more than one GetResources page (at most 100 tags a page by default)
    names, asked = listing(emu)
    assert len(names) == 40
    assert asked["tagging:GetResources"] > 1
    assert asked["sagemaker:ListNotebookInstances"] == 1
