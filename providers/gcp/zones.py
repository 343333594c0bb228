"""Zones that offer GPUs, per region: where `--region` lets nbctl look, in order.

A static table on purpose: it lets `up` pick zones without a network call. A zone missing a
GPU type only costs a failover step (the cloud answers "does not exist in zone").
"""
from __future__ import annotations

GPU_ZONES: dict[str, tuple[str, ...]] = {
    "us-central1": ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"),
    "us-east1": ("us-east1-c", "us-east1-d", "us-east1-b"),
    "us-east4": ("us-east4-a", "us-east4-b", "us-east4-c"),
    "us-west1": ("us-west1-a", "us-west1-b"),
    "us-west4": ("us-west4-a", "us-west4-b"),
    "europe-west1": ("europe-west1-b", "europe-west1-c", "europe-west1-d"),
    "europe-west4": ("europe-west4-a", "europe-west4-b", "europe-west4-c"),
    "asia-east1": ("asia-east1-a", "asia-east1-c"),
    "asia-southeast1": ("asia-southeast1-b", "asia-southeast1-c"),
}


def region_of(zone: str) -> str:
    """'us-central1-a' -> 'us-central1'."""
    return zone.rsplit("-", 1)[0]


def zones_of(region: str) -> tuple[str, ...]:
    """The GPU zones of a region; an unknown region gets its usual '-a', '-b', '-c'."""
    return GPU_ZONES.get(region) or tuple(f"{region}-{x}" for x in "abc")
