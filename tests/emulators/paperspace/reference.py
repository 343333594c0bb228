"""What the fake Paperspace API knows about Paperspace itself, with where each fact comes from.
Checked 2026-11-30. Nothing here is taken from nbctl's own settings or catalog.

Sources:
  [openapi]  The Paperspace API v1 OpenAPI document (https://api.paperspace.com/v1/openapi.json)
             as vendored, generated to TypeScript, in Paperspace's own CLI:
             github.com/Paperspace/cli, api/openapi.ts at
             a3bfecdc9aaeb39b7f97d698f7ab4d4176157ad0 (2024-05-07).
  [avail]    "Machines Availability", https://docs.digitalocean.com/products/paperspace/machines/
             details/availability/ (which GPU machine runs in which datacenter; CPU machines run
             in all of them).
  [create]   "Create a Machine with the Paperspace API", https://docs.digitalocean.com/products/
             paperspace/machines/getting-started/create-machine-with-api/ (regions; an OS
             template listing with `availableMachineTypes` such as A100-80G and A100-80Gx8).
  [devpod]   github.com/dwarvesf/devpod-provider-paperspace, hack/provider/provider.yaml: public
             code that creates Paperspace machines, listing the multi-GPU and CPU type names.
  [gradient] github.com/Paperspace/gradient-cli issue #327: the stockout sentence as Paperspace
             answered it.
"""
from __future__ import annotations

# The datacenters, and the `region` value API v1 takes and reports for each: [create] posts
# {"region": "East Coast (NY2)"} to POST /v1/machines and lists templates with that region.
# The short codes are the datacenters' names in [avail]; the API is not documented to take them.
REGION_NAMES = {"ny2": "East Coast (NY2)", "ca1": "West Coast (CA1)", "ams1": "Europe (AMS1)"}
REGION_CODES = {name: code for code, name in REGION_NAMES.items()}
REGIONS = tuple(REGION_NAMES)

# GPU machine type -> datacenters that run it, from [avail]. A multi-GPU type (`A4000x2`)
# runs where its single-GPU type runs; its name comes from [create] or [devpod].
_GPU_REGIONS = {
    "GPU+": ("ny2", "ams1"), "P4000": REGIONS, "P5000": REGIONS, "P6000": REGIONS,
    "RTX4000": REGIONS, "RTX5000": ("ny2",), "A4000": REGIONS, "A5000": ("ny2", "ca1"),
    "A6000": ("ny2", "ca1"), "V100": ("ny2", "ams1"), "V100-32G": ("ny2",), "A100": ("ny2",),
    "A100-80G": ("ny2",), "H100": ("ny2",),
}
_MULTI_GPU = ("P4000x2", "RTX4000x2", "A4000x2", "A4000x4", "P5000x2", "RTX5000x2", "P6000x2",
              "A5000x2", "A5000x4", "A6000x2", "A6000x4", "V100x2", "V100-32Gx2", "V100-32Gx4",
              "A100-80Gx2", "A100-80Gx4", "A100-80Gx8")  # [devpod]; A100-80Gx8 also in [create]
_CPU = ("C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9")  # [devpod]; CPU runs everywhere [avail]

MACHINE_TYPES: dict[str, tuple[str, ...]] = {
    **_GPU_REGIONS,
    **{t: _GPU_REGIONS[t.rsplit("x", 1)[0]] for t in _MULTI_GPU},
    **{t: REGIONS for t in _CPU},
}

# `diskSize` in GB. [openapi] types it as a number; the sizes Paperspace offers are these.
DISK_SIZES = (50, 100, 250, 500, 1000, 2000, 4000, 8000, 12000, 16000)

# Machine.state enum and MachineEvent.state / .name enums, from [openapi]. A machine whose
# provisioning fails keeps a state of this enum (there is no "failed" machine state); the
# failure shows as its `create` event in state "error" with the `error` text.
MACHINE_STATES = ("off", "starting", "stopping", "restarting", "serviceready", "ready",
                  "upgrading", "provisioning")
EVENT_STATES = ("new", "in progress", "done", "error", "cancelled")
EVENT_NAMES = ("bill-sessions", "bill-upgrade", "create", "deactivate", "restart",
               "snapshot-create", "snapshot-delete", "snapshot-restore", "start", "stop",
               "template-create", "template-delete", "template-distribute", "template-import",
               "vm-migrate", "vm-shutdown-force", "vm-upgrade")

# OS templates as GET /os-templates lists them. Names and labels follow [create] and the
# ML-in-a-Box docs; the ids are the fake's own (real ids differ per template release).
TEMPLATES = (
    {"id": "tmlinabox22", "name": "ML-in-a-Box Ubuntu 22.04", "agentType": "LinuxHost",
     "operatingSystemLabel": "Ubuntu 22.04", "defaultSizeGb": 100,
     "dtCreated": "2024-03-01T00:00:00.000Z"},
    {"id": "tmlinabox20", "name": "ML-in-a-Box Ubuntu 20.04", "agentType": "LinuxHost",
     "operatingSystemLabel": "Ubuntu 20.04", "defaultSizeGb": 100,
     "dtCreated": "2022-01-01T00:00:00.000Z"},
    {"id": "tubuntu2204", "name": "Ubuntu 22.04 Server", "agentType": "LinuxHost",
     "operatingSystemLabel": "Ubuntu 22.04", "defaultSizeGb": 50,
     "dtCreated": "2023-05-01T00:00:00.000Z"},
)

# Error texts. [openapi] fixes only the shape {"code", "message", "details"?}. The one text
# known from Paperspace itself is the stockout sentence [gradient]. Every other text below is
# NOT known: it is the fake's own wording, and a client must not match on it (it may use the
# HTTP status and `code`).
CAPACITY = ("We are currently out of capacity for the selected VM type. Try again in a few "
            "minutes, or select a different instance.")
UNKNOWN_TEXT = "(fake's own wording: the real text is not documented)"
