"""google-cloud-compute's `compute_v1`, loaded by the parts nbctl uses (gapic.py): five
clients and the message types of its one `types` module."""
from __future__ import annotations

from .gapic import package

compute_v1 = package("google.cloud.compute_v1", types=("types",))
