"""Data nbctl ships: the GPU catalog and the scripts it puts on machines."""
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
GPU_CATALOG = CONFIG_DIR / "gpus.toml"
