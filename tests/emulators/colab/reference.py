"""What Colab Enterprise accepts, from Google's references (never from a client's settings).

- Idle timeout: NotebookIdleShutdownConfig.idle_timeout in
  google/cloud/aiplatform/v1/notebook_idle_shutdown_config.proto: "Idle Timeout is accurate to
  minute so the range of idle_timeout (second) is: 10 * 60 ~ 1440 * 60".
- Machine types and the GPUs each takes: Compute Engine's "GPU machine types"
  (cloud.google.com/compute/docs/gpus): T4, P4, P100 and V100 attach to N1 machines in counts of
  1, 2 or 4 (V100 also 8); L4 comes fixed with G2 machines, A100 40GB with A2 High-GPU, A100 80GB
  with A2 Ultra-GPU; E2 and N2 take none. Colab Enterprise's "Create a runtime template"
  (cloud.google.com/colab/docs/create-runtime-template) offers these families.
- Locations: Colab Enterprise's "Locations" page (cloud.google.com/colab/docs/locations).
- Label rules: NotebookRuntimeTemplate.labels in notebook_runtime.proto ("no longer than 64
  characters ... lowercase letters, numeric characters, underscores and dashes").
- Capacity: Vertex AI's troubleshooting page (cloud.google.com/vertex-ai/docs/general/
  troubleshooting): "Resources are insufficient in region", google.rpc.Code RESOURCE_EXHAUSTED.
"""
from __future__ import annotations

import re

IDLE_TIMEOUT_RANGE_S = (10 * 60, 1440 * 60)

LOCATIONS = frozenset({
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2",
    "us-west3", "us-west4", "northamerica-northeast1", "northamerica-northeast2",
    "southamerica-east1", "europe-west1", "europe-west2", "europe-west3", "europe-west4",
    "europe-west6", "europe-west9", "europe-north1", "europe-central2", "europe-southwest1",
    "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast3", "asia-south1",
    "asia-southeast1", "asia-southeast2", "australia-southeast1", "me-west1"})

_N1_GPUS = {"NVIDIA_TESLA_T4": (1, 2, 4), "NVIDIA_TESLA_P4": (1, 2, 4),
            "NVIDIA_TESLA_P100": (1, 2, 4), "NVIDIA_TESLA_V100": (1, 2, 4, 8)}


def _machine_types() -> dict[str, dict[str, tuple[int, ...]]]:
    """machine type -> {accelerator type: the counts it takes}; {} for a machine without GPUs."""
    table: dict[str, dict[str, tuple[int, ...]]] = {}
    for cpus in (2, 4, 8, 16, 32):
        table[f"e2-standard-{cpus}"] = {}
        table[f"e2-highmem-{cpus}"] = {}
        table[f"n2-standard-{cpus}"] = {}
        table[f"n2-highmem-{cpus}"] = {}
    for cpus in (2, 4, 8, 16, 32, 64, 96):
        table[f"n1-standard-{cpus}"] = dict(_N1_GPUS)
        table[f"n1-highmem-{cpus}"] = dict(_N1_GPUS)
    for cpus in (4, 8, 12, 16, 32):
        table[f"g2-standard-{cpus}"] = {"NVIDIA_L4": (1,)}
    table["g2-standard-24"] = {"NVIDIA_L4": (2,)}
    table["g2-standard-48"] = {"NVIDIA_L4": (4,)}
    table["g2-standard-96"] = {"NVIDIA_L4": (8,)}
    for n in (1, 2, 4, 8):
        table[f"a2-highgpu-{n}g"] = {"NVIDIA_TESLA_A100": (n,)}
        table[f"a2-ultragpu-{n}g"] = {"NVIDIA_A100_80GB": (n,)}
    return table


MACHINE_TYPES = _machine_types()
# Runtimes' default (Colab Enterprise "Runtimes and runtime templates": default runtime specs).
DEFAULT_MACHINE_TYPE = "e2-standard-4"
LABEL_RX = re.compile(r"[\w-]{0,64}", re.UNICODE)
LABEL_KEY_RX = re.compile(r"[^\W\dA-Z][\w-]{0,62}", re.UNICODE)
# Resource ids a user picks: AIP-122 resource id segments (lowercase letters, digits, hyphens).
ID_RX = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def machine_problem(spec: dict) -> str | None:
    """Why Colab Enterprise would refuse this MachineSpec (canonical JSON), or None."""
    machine = spec.get("machineType") or DEFAULT_MACHINE_TYPE
    gpus = MACHINE_TYPES.get(machine)
    if gpus is None:
        return f"Machine type \"{machine}\" is not supported."
    accel = spec.get("acceleratorType") or "ACCELERATOR_TYPE_UNSPECIFIED"
    count = int(spec.get("acceleratorCount") or 0)
    if accel == "ACCELERATOR_TYPE_UNSPECIFIED":
        if count:
            return "accelerator_count is set but accelerator_type is unspecified."
        if gpus and "NVIDIA_TESLA_T4" not in gpus:  # G2 and A2 machines come with their GPUs
            wanted = next(iter(gpus))
            return f"Machine type \"{machine}\" requires accelerator type \"{wanted}\"."
        return None
    if accel not in gpus:
        return f"Accelerator \"{accel}\" is not supported for machine type \"{machine}\"."
    if count not in gpus[accel]:
        allowed = ", ".join(str(c) for c in gpus[accel])
        return (f"Accelerator count {count} is not supported for \"{accel}\" on machine type "
                f"\"{machine}\"; supported counts: {allowed}.")
    return None


def insufficient_resources(location: str) -> str:
    return (f"Resources are insufficient in region: {location}. Please try a different region. "
            "If you use K80, please consider using P100 or V100 instead.")


def quota_exceeded(location: str, accelerator: str) -> tuple[str, str]:
    """(message, quota metric) of a GPU quota refusal; Compute Engine names GPU quotas
    NVIDIA_<model>_GPUS (cloud.google.com/compute/resource-usage#gpu_quota)."""
    model = accelerator.replace("NVIDIA_TESLA_", "NVIDIA_").replace("NVIDIA_", "")
    metric = f"NVIDIA_{model}_GPUS" if accelerator.startswith("NVIDIA") else "CPUS"
    return f"Quota '{metric}' exceeded. Limit: 0.0 in region {location}.", metric
