"""AWS emulation for nbctl's tests: moto, plus the pieces moto lacks (see moto_ext), behind
a layer that injects errors, counts requests and, in strict mode (always on), refuses malformed
ones by botocore's own service model (see faults, reference), EC2's spot rules (see spot), and
an evaluator of EventBridge Scheduler cron expressions (see cron_engine), since moto never
fires schedules, and, on request, EC2 instances that boot for real: their user data runs as
cloud-init would run it (see instances_boot, cloud_init), each with its own instance metadata
service (see imds)."""
from .faults import Call, Fault
from .moto_ext import Delays
from .server import AwsEmulator

__all__ = ["AwsEmulator", "Call", "Delays", "Fault"]
