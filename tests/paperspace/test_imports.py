"""Importing the provider package (for its name rules, capabilities, offers) loads no HTTP client."""
import subprocess
import sys

from tests.conftest import startup_modules


def test_import_loads_no_http_client_or_cloud_sdk():
    code = ("import sys, nbctl_cloud.providers.paperspace as p; p.PaperspaceProvider({}).offers('a4000', 1, False);"
            "print('\\n'.join(m for m in sys.modules if m.split('.')[0] in "
            "{'httpx', 'httpcore', 'boto3', 'botocore', 'google', 'grpc', 'gradient'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert sorted(set(out.stdout.split()) - startup_modules()) == []
