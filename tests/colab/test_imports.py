"""Loading the colab provider for its rules, offers and refusals imports no Google SDK."""
import subprocess
import sys

from tests.conftest import startup_modules


def test_import_offers_and_checks_load_no_google_sdk():
    code = ("import sys\nfrom nbctl_cloud.model import InstanceSpec\n"
            "from nbctl_cloud.providers.colab import ColabProvider\n"
            "p = ColabProvider({}); p.offers('t4', 1, False)\n"
            "p.validate_spec(InstanceSpec(name='nb', provider='colab', gpu='t4', gpu_count=1))\n"
            "print('\\n'.join(m for m in sys.modules if m.split('.')[0] in "
            "{'google', 'grpc', 'requests', 'httpx', 'boto3'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert sorted(set(out.stdout.split()) - startup_modules()) == []
