"""Compute Engine reference data the emulator checks requests against: a small dated table.

Sources (read 2026-11; a zone or type missing here is answered as the cloud answers an
unknown one):
- zones and the GPUs each offers: "GPU regions and zone availability",
  https://cloud.google.com/compute/docs/gpus/gpu-regions-zones
- which GPUs attach to which machine series, and in what counts: "GPU machine types",
  https://cloud.google.com/compute/docs/gpus and
  https://cloud.google.com/compute/docs/accelerator-optimized-machines
- machine series per zone: "Available regions and zones",
  https://cloud.google.com/compute/docs/regions-zones#available
- label syntax: https://cloud.google.com/compute/docs/labeling-resources
- Deep Learning VM image size: the `diskSizeGb` images.getFromFamily answers for
  deeplearning-platform-release images (https://cloud.google.com/deep-learning-vm/docs/images)

Only the zones and series the tests reach are listed; this table is the emulator's, never the
product's catalog.
"""
from __future__ import annotations

T4, P4, P100, V100 = "nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100"
L4, A100, A100_80, H100 = "nvidia-l4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb"

# zone -> accelerator types offered there ("GPU regions and zone availability", 2026-11).
ZONE_ACCELERATORS: dict[str, frozenset[str]] = {z: frozenset(a) for z, a in {
    "us-central1-a": (T4, P4, V100, L4, A100, A100_80, H100),
    "us-central1-b": (T4, V100, L4, A100, H100),
    "us-central1-c": (T4, P4, P100, V100, L4, A100, A100_80, H100),
    "us-central1-f": (T4, P100, V100, A100),
    "us-east1-b": (P100, L4),
    "us-east1-c": (T4, P100, V100, A100),
    "us-east1-d": (T4, L4),
    "us-east4-a": (T4, P4, L4, A100_80, H100),
    "us-east4-b": (T4, P4, L4),
    "us-east4-c": (T4, P4, L4, A100_80, H100),
    "us-west1-a": (T4, P100, V100, L4, H100),
    "us-west1-b": (T4, P100, V100, A100, L4, H100),
    "us-west4-a": (T4, P4, L4, H100),
    "us-west4-b": (T4, A100),
    "europe-west1-b": (T4, P100, L4),
    "europe-west1-c": (T4, L4),
    "europe-west1-d": (T4, P100),
    "europe-west4-a": (T4, P100, V100, L4, A100, A100_80),
    "europe-west4-b": (T4, P4, V100, L4, A100, H100),
    "europe-west4-c": (T4, P4, V100, L4, H100),
    "asia-east1-a": (T4, P100, V100, L4),
    "asia-east1-c": (T4, P100, V100, L4),
    "asia-southeast1-b": (T4, P4, L4, A100, H100),
    "asia-southeast1-c": (T4, P4, A100, L4, H100),
}.items()}

# N1 takes these GPUs attached by the user, in these counts ("GPU machine types", N1 section).
N1_GPU_COUNTS: dict[str, tuple[int, ...]] = {T4: (1, 2, 4), P4: (1, 2, 4), P100: (1, 2, 4),
                                             V100: (1, 2, 4, 8)}

# Accelerator-optimized types come with their GPUs attached: type -> (accelerator, count).
ATTACHED: dict[str, tuple[str, int]] = {
    **{f"g2-standard-{n}": (L4, 1) for n in (4, 8, 12, 16, 32)},
    "g2-standard-24": (L4, 2), "g2-standard-48": (L4, 4), "g2-standard-96": (L4, 8),
    "a2-highgpu-1g": (A100, 1), "a2-highgpu-2g": (A100, 2), "a2-highgpu-4g": (A100, 4),
    "a2-highgpu-8g": (A100, 8), "a2-megagpu-16g": (A100, 16),
    "a2-ultragpu-1g": (A100_80, 1), "a2-ultragpu-2g": (A100_80, 2),
    "a2-ultragpu-4g": (A100_80, 4), "a2-ultragpu-8g": (A100_80, 8),
    "a3-highgpu-8g": (H100, 8),
}

# General-purpose predefined types (N1, E2: every zone above offers both series).
GENERAL_TYPES = frozenset(
    [f"n1-standard-{n}" for n in (1, 2, 4, 8, 16, 32, 64, 96)]
    + [f"n1-highmem-{n}" for n in (2, 4, 8, 16, 32, 64, 96)]
    + [f"n1-highcpu-{n}" for n in (2, 4, 8, 16, 32, 64, 96)]
    + [f"e2-standard-{n}" for n in (2, 4, 8, 16, 32)] + ["e2-medium", "e2-small", "e2-micro"])


def machine_types(zone: str) -> frozenset[str]:
    """The predefined machine types of a zone: general-purpose everywhere, an accelerator-
    optimized type where its GPU is offered."""
    gpus = ZONE_ACCELERATORS.get(zone, frozenset())
    return GENERAL_TYPES | {t for t, (gpu, _) in ATTACHED.items() if gpu in gpus}


# Labels (labeling-resources): at most 64 per resource; keys and values at most 63 characters
# of lowercase letters, digits, '_' and '-'; a key starts with a lowercase letter.
MAX_LABELS = 64
LABEL_KEY = r"[a-z][a-z0-9_-]{0,62}"
LABEL_VALUE = r"[a-z0-9_-]{0,63}"

# deeplearning-platform-release images are 50 GB; a boot disk may not be smaller.
DLVM_IMAGE_DISK_GB = 50
