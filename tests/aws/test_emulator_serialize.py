"""The AWS emulator's faster serializer (tests/emulators/aws/fast_serialize.py) answers byte for
byte what moto's own does: the same requests, over the same state, asked with each."""
from __future__ import annotations

import json
import re
import time
from urllib.parse import urlencode

import boto3
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tests.aws.conftest import ROLE
from tests.emulators.aws import fast_serialize

AWKWARD = "a&b <c> \"d\" 'e'\tf\ng"  # every character XML escapes, in a tag value


def raw(emu, service: str, body: str, target: str | None = None) -> tuple[int, bytes]:
    """One request as a client sends it (moto routes by the signature's service name)."""
    headers = {"Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/"
                                f"{service}/aws4_request, SignedHeaders=host, Signature=0"}
    if target:
        headers |= {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    else:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = Client(emu.layer).post("/", data=body, headers=headers)
    # the request id is new each time; nothing else may differ
    return response.status_code, re.sub(rb"<(requestId|RequestID)>[^<]*<", rb"<\1><",
                                        response.data)


def both(emu, *args) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    ours = raw(emu, *args)
    with fast_serialize.moto_own():
        theirs = raw(emu, *args)
    return ours, theirs


def test_ec2_and_sagemaker_answers_are_the_bytes_moto_writes(emu):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = emu.seed_dlami()
    spot = {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "persistent",
                                                   "InstanceInterruptionBehavior": "stop"}}
    for i, market in enumerate((spot, None, None)):
        ec2.run_instances(
            ImageId=image, InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
            **({"InstanceMarketOptions": market} if market else {}),
            TagSpecifications=[{"ResourceType": "instance", "Tags": [
                {"Key": "nbctl-name", "Value": f"nb{i}"}, {"Key": "note", "Value": AWKWARD}]}])
    stopped = ec2.describe_instances(Filters=[{"Name": "tag:nbctl-name", "Values": ["nb2"]}])
    ec2.stop_instances(InstanceIds=[stopped["Reservations"][0]["Instances"][0]["InstanceId"]])
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_notebook_instance(NotebookInstanceName="nb3", InstanceType="ml.t3.medium",
                                RoleArn=ROLE, Tags=[{"Key": "note", "Value": AWKWARD}])
    time.sleep(0.5)  # every transition of the emulator's short delays has ended

    query = {"Version": "2016-11-15"}
    asked = [
        ("ec2", urlencode({**query, "Action": "DescribeInstances"})),
        ("ec2", urlencode({**query, "Action": "DescribeInstances", "Filter.1.Name": "tag:note",
                           "Filter.1.Value.1": AWKWARD})),
        ("ec2", urlencode({**query, "Action": "DescribeInstances",
                           "InstanceId.1": "i-0123456789abcdef0"})),  # an error answer
        ("ec2", urlencode({**query, "Action": "DescribeSpotInstanceRequests"})),
        ("ec2", urlencode({**query, "Action": "DescribeImages", "Owner.1": "amazon"})),
        ("ec2", urlencode({**query, "Action": "DescribeInstanceStatus",
                           "IncludeAllInstances": "true"})),
        ("sagemaker", "{}", "SageMaker.ListNotebookInstances"),
        ("sagemaker", json.dumps({"NotebookInstanceName": "nb3"}),
         "SageMaker.DescribeNotebookInstance"),
        ("sagemaker", json.dumps({"NotebookInstanceName": "none"}),
         "SageMaker.DescribeNotebookInstance"),
        ("tagging", "{}", "ResourceGroupsTaggingAPI_20170126.GetResources"),
    ]
    statuses = []
    for args in asked:
        ours, theirs = both(emu, *args)
        assert ours == theirs, args
        statuses.append(ours[0])
    assert statuses.count(200) == len(asked) - 2  # the two asked for what is not there
    assert AWKWARD.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode() \
        in both(emu, *asked[1])[0][1]


_names = st.sampled_from(["item", "a", "b-c", "d.e", "_f", "bad name", "1x", "g:h"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                     st.floats(allow_nan=False))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(_names, st.sampled_from(["#text", "@id", "@x y", "@xmlns"])),
                        inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_names, _values, min_size=1, max_size=2))
def test_the_xml_writer_writes_what_xmltodict_writes_or_leaves_it_to_xmltodict(body):
    ours = fast_serialize.unparse(body)
    try:
        theirs = xmltodict.unparse(body, full_document=True, short_empty_elements=True)
    except ValueError:  # xmltodict refuses it (two roots, a name XML does not allow)
        assert ours is None
        return
    assert ours is None or ours == theirs
