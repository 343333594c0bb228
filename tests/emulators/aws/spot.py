"""EC2's rules for spot instances that moto does not keep.

References (EC2 User Guide): "Behavior of Spot Instance interruptions" (interruption-behavior.html)
and "Get the status of a Spot Instance request" / "State changes for a Spot request"
(spot-request-status.html, spot-instances-request-status-lifecycle.html):
- InstanceInterruptionBehavior stop requires a persistent request; a one-time one is refused
  with InvalidParameterCombination;
- an interrupted, stopped spot instance is restarted by EC2 only, when capacity returns (its
  request is open again, status instance-stopped-no-capacity); StartInstances on it is refused
  with IncorrectSpotRequestState "Only Amazon EC2 can restart an interrupted stopped Spot
  Instance.";
- after a user stop the persistent request passes through active / marked-for-stop before
  disabled / instance-stopped-by-user; StartInstances meanwhile fails with
  IncorrectSpotRequestState (hashicorp/terraform-provider-aws#33399 shows the transition; the
  wording of that message is not published, so it is ours). On EC2 the window is a time; here
  it is a number of refused StartInstances, so that no test depends on timing.

"Spot Instance interruption notices" (spot-instance-termination-notices.html) and "EC2 instance
rebalance recommendations" (rebalance-recommendations.html): EC2 warns before it interrupts,
in the instance metadata (see imds.py): `spot/instance-action` {"action": "stop"|"terminate",
"time": "<UTC, when it will act>"} from the notice on (two minutes before; here `notice`
seconds, the request marked-for-stop / marked-for-termination meanwhile), and
`events/recommendations/rebalance` {"noticeTime": ...} when the risk of an interruption rises.
A notice is gone once the instance runs again.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

RESTART_REFUSED = "Only Amazon EC2 can restart an interrupted stopped Spot Instance."
ONE_TIME_STOP = ("The request with type '{kind}' is not supported when "
                 "instanceInterruptionBehavior is set to 'stop'.")


@dataclass
class SpotControls:
    """stop_window: how many StartInstances a persistent request refuses while it is
    marked-for-stop after a user stop (then it is disabled / instance-stopped-by-user)."""

    stop_window: int = 0


CONTROLS = SpotControls()
TIMERS: list[threading.Timer] = []  # interruptions at the end of a notice, still to come
IMDS_TIME = "%Y-%m-%dT%H:%M:%SZ"  # how instance-action and rebalance write times


def refuse_one_time_stop(options: dict) -> None:
    """RunInstances' SpotOptions: stop behaviour only with a persistent request."""
    from moto.ec2.exceptions import EC2ClientError

    kind = options.get("SpotInstanceType", "one-time")
    if options.get("InstanceInterruptionBehavior") == "stop" and kind != "persistent":
        raise EC2ClientError("InvalidParameterCombination", ONE_TIME_STOP.format(kind=kind))


def request_of(backend, instance):
    return backend.spot_instance_requests.get(getattr(instance, "spot_instance_request_id", None))


def check_start(backend, instance) -> None:
    """StartInstances on a spot instance: refused while EC2, not its owner, holds it."""
    from moto.ec2.exceptions import EC2ClientError

    request = request_of(backend, instance)
    if request is None:
        return
    if request._status_code == "instance-stopped-no-capacity":
        raise EC2ClientError("IncorrectSpotRequestState", RESTART_REFUSED)
    if request._status_code == "marked-for-stop" and getattr(request, "_refusals_left", 0) > 0:
        request._refusals_left -= 1
        if request._refusals_left == 0:
            request.state, request._status_code = "disabled", "instance-stopped-by-user"
        raise EC2ClientError(
            "IncorrectSpotRequestState",
            f"The Spot Instance request {request.id} for instance {instance.id} is in state "
            f"active with status marked-for-stop; it can be started once it is disabled.")
    if instance._state.name == "stopped":
        clear_notices(instance)
    request.state, request._status_code = "active", "fulfilled"
    request.status_message = "Your spot request is fulfilled."


def user_stopped(backend, instance) -> None:
    """A user stop of a persistent spot instance: marked-for-stop for the window, then
    disabled / instance-stopped-by-user."""
    request = request_of(backend, instance)
    if request is None:
        return
    request.state, request._status_code = "disabled", "instance-stopped-by-user"
    request.status_message = "Your Spot Instance was stopped by the user."
    if CONTROLS.stop_window > 0:
        request.state, request._status_code = "active", "marked-for-stop"
        request._refusals_left = CONTROLS.stop_window


def interrupt(backend, instance_id: str) -> None:
    """What EC2 does when it reclaims a spot instance: with InstanceInterruptionBehavior stop
    the instance stops with reason Server.SpotInstanceShutdown and its request opens again
    (instance-stopped-no-capacity); with terminate it is terminated
    (Server.SpotInstanceTermination, instance-terminated-no-capacity)."""
    from moto.ec2.models.instances import StateReason

    inst = backend.get_instance_by_id(instance_id)
    request = request_of(backend, inst)
    stop = request is not None and request.instance_interruption_behaviour == "stop"
    if stop:
        inst.stop()
        inst.state_reason = StateReason("Server.SpotInstanceShutdown: Spot Instance shutdown "
                                        "due to no Spot capacity", "Server.SpotInstanceShutdown")
    else:
        inst.terminate()
        inst.state_reason = StateReason("Server.SpotInstanceTermination: Spot Instance "
                                        "termination due to no Spot capacity",
                                        "Server.SpotInstanceTermination")
    inst._reason = "Service initiated"
    if request is not None:
        request._status_code = ("instance-stopped-no-capacity" if stop
                                else "instance-terminated-no-capacity")
        request.state = "open" if stop else "closed"
        request.status_message = "Spot capacity is not available"


def capacity_returns(backend, instance_id: str) -> None:
    """Capacity is back: EC2 itself starts the interrupted, stopped instance (pending, then
    running) and its request is fulfilled again."""
    inst = backend.get_instance_by_id(instance_id)
    request = request_of(backend, inst)
    if request is None or request._status_code != "instance-stopped-no-capacity":
        raise ValueError(f"{instance_id} is not an interrupted, stopped spot instance")
    inst.start()
    clear_notices(inst)
    request.state, request._status_code = "active", "fulfilled"
    request.status_message = "Your spot request is fulfilled."


def warn(backend, instance_id: str, notice: float) -> None:
    """The interruption notice: `spot/instance-action` now, and `interrupt` `notice` seconds
    later (at once if 0). Only for a spot instance with stop or terminate behaviour."""
    inst = backend.get_instance_by_id(instance_id)
    request = request_of(backend, inst)
    if request is None:
        raise ValueError(f"{instance_id} is not a spot instance")
    action = request.instance_interruption_behaviour
    if action not in ("stop", "terminate"):
        raise ValueError(f"interruption behaviour {action!r} is not emulated")
    when = datetime.now(timezone.utc) + timedelta(seconds=notice)
    inst.interruption_notice = {"action": action, "time": when.strftime(IMDS_TIME)}
    request._status_code = "marked-for-stop" if action == "stop" else "marked-for-termination"
    request.status_message = "Spot Instance is marked for interruption"
    if notice <= 0:
        interrupt(backend, instance_id)
        return
    timer = threading.Timer(notice, _interrupt_if_up, args=(backend, instance_id))
    timer.daemon = True
    TIMERS.append(timer)
    timer.start()


def _interrupt_if_up(backend, instance_id: str) -> None:
    inst = backend.get_instance_by_id(instance_id)
    if inst is not None and inst._state.name in ("pending", "running"):
        interrupt(backend, instance_id)


def recommend_rebalance(backend, instance_id: str) -> None:
    """A rebalance recommendation: the spot instance is at elevated risk of interruption."""
    inst = backend.get_instance_by_id(instance_id)
    if request_of(backend, inst) is None:
        raise ValueError(f"{instance_id} is not a spot instance")
    inst.rebalance_notice = {"noticeTime": datetime.now(timezone.utc).strftime(IMDS_TIME)}


def clear_notices(inst) -> None:
    inst.interruption_notice = inst.rebalance_notice = None


def cancel_timers() -> None:
    while TIMERS:
        TIMERS.pop().cancel()


def install() -> None:
    """Patch moto's StartInstances and StopInstances with the rules above."""
    from moto.ec2.models.instances import InstanceBackend

    original_start = InstanceBackend.start_instances
    original_stop = InstanceBackend.stop_instances

    def start_instances(self, instance_ids):
        for inst in self.get_multi_instances_by_id(instance_ids):
            check_start(self, inst)
        return original_start(self, instance_ids)

    def stop_instances(self, instance_ids):
        stopped = original_stop(self, instance_ids)
        for inst, _ in stopped:
            user_stopped(self, inst)
        return stopped

    InstanceBackend.start_instances = start_instances
    InstanceBackend.stop_instances = stop_instances
