"""The smallest faithful extensions of moto that nbctl's AWS tests need.

moto answers every call at once and in its final state; the real services do not:
- EC2 instances pass through `pending`, `stopping`, `shutting-down` before `running`,
  `stopped`, `terminated` (moto jumps straight there);
- RunInstances with the same ClientToken returns the first launch instead of a second one
  (moto launches again) in its state of now (moto always says `pending`), and refuses the
  token with other parameters (IdempotentParameterMismatch);
- ModifyInstanceAttribute's UserData.Value is a blob, base64 on the wire and decoded by the
  protocol: it is the script itself (moto takes the decoded bytes for base64 and refuses them);
- a start moves the instance's LaunchTime on ("the time that the instance was last launched");
- user data over 16 KB (raw, before base64: EC2 User Guide, "Run commands when you launch an EC2
  instance with user data input") is refused with InvalidParameterValue (moto takes any size);
- RunInstances with InstanceMarketOptions opens a spot instance request that the instance
  points at (SpotInstanceRequestId), and a persistent request outlives a stop (moto makes none);
  EC2's rules for spot requests and starts are in spot.py;
- SageMaker notebook instances are Pending, Stopping, Deleting for minutes; stop is only
  allowed InService, start only Stopped/Failed, update only Stopped (moto allows anything);
- SageMaker accepts exactly the notebook types of botocore's model (moto's list is older),
  runs out of capacity where `NO_NOTEBOOK_CAPACITY` says (Pending, then Failed), and has
  UpdateNotebookInstance, UpdateNotebookInstanceLifecycleConfig and
  CreatePresignedNotebookInstanceUrl (moto lacks them).

`install()` patches moto's classes once per process; `DELAYS` sets how long each transition
lasts (seconds; tests keep them short). The patches live in the process that serves moto, so
they apply to a ThreadedMotoServer-style server started in the test process as well.
"""
from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass

from . import reference, spot

_INSTALLED = False
_REQUEST = threading.local()  # what the request being served asked, beyond moto's kwargs


@dataclass
class Delays:
    """Seconds each transition takes in the emulator."""

    provision: float = 0.3  # EC2 pending / SageMaker Pending
    stop: float = 0.2  # EC2 stopping / SageMaker Stopping
    delete: float = 0.2  # EC2 shutting-down / SageMaker Deleting


DELAYS = Delays()

EC2_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
             "stopping": 64, "stopped": 80}
# final EC2 state -> (the state shown meanwhile, which delay)
EC2_PHASES = {"running": ("pending", "provision"), "stopped": ("stopping", "stop"),
              "terminated": ("shutting-down", "delete")}
SM_PHASES = {"InService": ("Pending", "provision"), "Stopped": ("Stopping", "stop"),
             "Deleted": ("Deleting", "delete"), "Failed": ("Pending", "provision")}
# (instance type, region) SageMaker has no capacity for; None matches any. A notebook asked
# there stays Pending, then goes Failed with this FailureReason (the wording the audit of
# issue 12 saw on SageMaker; DescribeNotebookInstance's FailureReason in botocore's model).
NO_NOTEBOOK_CAPACITY: set[tuple[str | None, str | None]] = set()
CAPACITY_REASON = "Insufficient notebook instance capacity for {type}. Please try again later."


class Timed:
    """A value that shows `phase` until a deadline, then `target`."""

    def __init__(self, phases: dict, target: str, *, immediate: bool = False):
        self._phases = phases
        self._target = target if immediate else ""  # "": nothing yet, so `set` phases in
        self._phase = target
        self._until = 0.0
        if not immediate:
            self.set(target)

    def get(self) -> str:
        return self._phase if time.monotonic() < self._until else self._target

    def set(self, value: str) -> None:
        phase = self._phases.get(value)
        delay = getattr(DELAYS, phase[1]) if phase else 0.0
        if phase and delay > 0 and value != self.get():
            self._phase, self._until = phase[0], time.monotonic() + delay
        else:
            self._until = 0.0
        self._target = value


class TimedInstanceState:
    """Drop-in for moto's InstanceState (attributes `name`, `code`) that passes through the
    transitional state first."""

    def __init__(self, name: str):
        self._timed = Timed(EC2_PHASES, name)

    @property
    def name(self) -> str:
        return self._timed.get()

    @name.setter
    def name(self, value: str) -> None:
        self._timed.set(value)

    @property
    def code(self) -> int:
        return EC2_CODES.get(self.name, 0)

    @code.setter
    def code(self, value: int) -> None:
        pass  # derived from name

    def __copy__(self):
        snap = TimedInstanceState.__new__(TimedInstanceState)
        snap._timed = Timed(EC2_PHASES, self.name, immediate=True)
        return snap


def install() -> None:
    """Patch moto once per process (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _patch_ec2()
    _patch_tag_lookup()
    spot.install()
    _patch_sagemaker()
    _INSTALLED = True


# -- EC2 -------------------------------------------------------------------------------------
def _patch_tag_lookup() -> None:
    """A resource's tags looked up by its id: moto scans every tag in the region for each
    resource, so a DescribeInstances over 3,000 tagged instances takes minutes. Same answer."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(self) -> list[dict[str, str]]:
        rid = getattr(self, "id", None)
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), "") if rid else ""
        return [{"resource_id": rid, "key": k, "value": v, "resource_type": kind}
                for k, v in dict(self.ec2_backend.tags.get(rid, {}) if rid else {}).items()]

    TaggedEC2Resource.get_tags = get_tags


USER_DATA_LIMIT = 16384
USER_DATA_TOO_LONG = "User data is limited to 16384 bytes"
MISMATCH_MESSAGE = ("Arguments on this idempotent request are inconsistent with arguments "
                    "used in previous request(s).")


def request_parameters(querystring: dict) -> tuple:
    """A RunInstances request's parameters as EC2 compares them for a reused ClientToken:
    everything the caller asked (not the protocol's Action and Version)."""
    return tuple(sorted((k, tuple(v)) for k, v in querystring.items()
                        if k not in ("Action", "Version")))


def _current_state(state) -> dict:
    if isinstance(state, dict):
        return state
    return {"Code": state.code, "Name": state.name}


def _patch_ec2() -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.instances import Instance, InstanceBackend
    from moto.ec2.models.spot_requests import SpotInstanceRequest

    original_init = Instance.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._state = TimedInstanceState("running")
        self.spot_instance_request_id = None
        self.interruption_notice = self.rebalance_notice = None  # see spot.warn

    Instance.__init__ = init
    original_start = Instance.start

    def start(self):
        # EC2 API Reference, Instance: LaunchTime is "the time that the instance was last
        # launched": a start (by the owner, or by EC2 after an interruption) moves it on.
        from moto.core.utils import utcnow
        previous = original_start(self)
        self.launch_time = utcnow()
        return previous

    Instance.start = start

    class LinkedSpotRequest(SpotInstanceRequest):
        """A spot request fulfilled by an instance RunInstances already made."""

        def __init__(self, backend, instance, spot_type: str, behaviour: str):
            self._given = instance
            super().__init__(
                backend, f"sir-{secrets.token_hex(4)}", "", instance.image_id, spot_type, None,
                None, None, None, instance.key_name, [], None, instance.instance_type,
                instance.placement.zone, None, None, False, None, {}, None, behaviour)

        def launch_instance(self):
            return self._given

    from moto.ec2.responses.instances import InstanceResponse

    # moto passes on only MarketType; keep the request's full options for the backend, and
    # every parameter, which EC2 compares when a ClientToken comes again.
    original_response = InstanceResponse.run_instances

    def run_instances_response(self):
        _REQUEST.market = self._get_param("InstanceMarketOptions") or {}
        if _REQUEST.market.get("MarketType") == "spot":
            spot.refuse_one_time_stop(_REQUEST.market.get("SpotOptions") or {})
        _REQUEST.params = request_parameters(self.querystring)
        try:
            return original_response(self)
        finally:
            _REQUEST.market, _REQUEST.params = {}, None

    InstanceResponse.run_instances = run_instances_response

    from moto.core.types import Base64EncodedString
    from moto.ec2.responses import instances as instance_responses

    original_parse = instance_responses.parse_user_data

    def parse_user_data(value):
        # bytes come only from a blob parameter, which the protocol already decoded
        raw = value if isinstance(value, bytes) else base64.b64decode(value or b"")
        if len(raw) > USER_DATA_LIMIT:
            raise EC2ClientError("InvalidParameterValue", USER_DATA_TOO_LONG)
        if isinstance(value, bytes):  # any bytes (gzip too): moto's from_raw_bytes wants UTF-8
            return Base64EncodedString(base64.b64encode(value).decode())
        return original_parse(value)

    instance_responses.parse_user_data = parse_user_data
    # EC2 answers a repeated launch with the instance as it is now: "the only information that
    # might vary in the response is the state of the instance".
    from moto.ec2.responses._base_response import EC2BaseResponse

    EC2BaseResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER[
        "RunInstances.Reservation.Instances.Instance.State"] = _current_state
    original_run = InstanceBackend.run_instances

    def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
        token = kwargs.get("client_token")
        params = getattr(_REQUEST, "params", None)
        if token and token != "ABCDE":  # moto's stand-in for "no token given"
            for reservation in self.reservations.values():
                if reservation.instances and reservation.instances[0].client_token == token:
                    # EC2: same token, same launch - if the request is the same one.
                    if getattr(reservation, "request_parameters", params) != params:
                        raise EC2ClientError("IdempotentParameterMismatch", MISMATCH_MESSAGE)
                    return reservation
        reservation = original_run(self, image_id, count, user_data, security_group_names,
                                   **kwargs)
        reservation.request_parameters = params
        market = getattr(_REQUEST, "market", None) or {}
        if market.get("MarketType") == "spot":
            options = market.get("SpotOptions") or {}
            for inst in reservation.instances:
                request = LinkedSpotRequest(self, inst,
                                            options.get("SpotInstanceType", "one-time"),
                                            options.get("InstanceInterruptionBehavior",
                                                        "terminate"))
                self.spot_instance_requests[request.id] = request
                inst.spot_instance_request_id = request.id
        return reservation

    InstanceBackend.run_instances = run_instances


# -- SageMaker -------------------------------------------------------------------------------
def _patch_sagemaker() -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeSagemakerNotebookInstance, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def validate_instance_type(self, instance_type):
        # the types are CreateNotebookInstance's InstanceType enum in botocore's model
        allowed = reference.notebook_types()
        if instance_type not in allowed:
            raise ValidationError(message=reference.validation_message(
                [reference.enum_refusal(instance_type, "instanceType", allowed)]))

    def start(self):
        out = {(self.instance_type, self.region_name), (self.instance_type, None),
               (None, self.region_name)} & NO_NOTEBOOK_CAPACITY
        self.failure_reason = CAPACITY_REASON.format(type=self.instance_type) if out else ""
        self.status = "Failed" if out else "InService"

    original_to_dict = FakeSagemakerNotebookInstance.to_dict

    def to_dict(self):
        out = original_to_dict(self)
        if self.status == "Failed":  # DescribeNotebookInstanceOutput.FailureReason
            out["FailureReason"] = getattr(self, "failure_reason", "")
        return out

    FakeSagemakerNotebookInstance.validate_instance_type = validate_instance_type
    FakeSagemakerNotebookInstance.start = start
    FakeSagemakerNotebookInstance.to_dict = to_dict

    def get_status(self):
        return self.__dict__["_timed_status"].get()

    def set_status(self, value):
        timed = self.__dict__.get("_timed_status")
        if timed is None:
            self.__dict__["_timed_status"] = Timed(SM_PHASES, value, immediate=True)
        else:
            timed.set(value)

    FakeSagemakerNotebookInstance.status = property(get_status, set_status)

    def transition(nb, allowed: tuple[str, ...], to: str):
        if nb.status not in allowed:
            raise ValidationError(
                message=f"Status ({nb.status}) not in ([{', '.join(allowed)}]). Unable to "
                        f"transition to ({to}) for Notebook Instance ({nb.arn})")

    original_get = SageMakerModelBackend.get_notebook_instance

    def get_notebook_instance(self, name):
        nb = original_get(self, name)
        if nb.status == "Deleted":
            del self.notebook_instances[name]
            raise ValidationError(message="RecordNotFound")
        return nb

    def start_notebook_instance(self, name):
        nb = get_notebook_instance(self, name)
        transition(nb, ("Stopped", "Failed"), "Pending")
        nb.start()

    def stop_notebook_instance(self, name):
        nb = get_notebook_instance(self, name)
        transition(nb, ("InService",), "Stopping")
        nb.status = "Stopped"

    def delete_notebook_instance(self, name):
        nb = get_notebook_instance(self, name)
        transition(nb, ("Stopped", "Failed"), "Deleting")
        nb.status = "Deleted"

    original_list = SageMakerModelBackend.list_notebook_instances

    def list_notebook_instances(self, *args, **kwargs):
        for name in [n for n, nb in self.notebook_instances.items() if nb.status == "Deleted"]:
            del self.notebook_instances[name]
        return original_list(self, *args, **kwargs)

    def update_notebook_instance(self, name, lifecycle_config_name, disassociate, volume_size):
        nb = get_notebook_instance(self, name)
        transition(nb, ("Stopped", "Failed"), "Updating")
        if lifecycle_config_name:
            if lifecycle_config_name not in self.notebook_instance_lifecycle_configurations:
                raise ValidationError(message=f"Notebook Instance Lifecycle Config "
                                              f"{lifecycle_config_name} does not exist.")
            nb.lifecycle_config_name = lifecycle_config_name
        if disassociate:
            nb.lifecycle_config_name = None
        if volume_size:
            nb.volume_size_in_gb = volume_size

    for fn in (get_notebook_instance, start_notebook_instance, stop_notebook_instance,
               delete_notebook_instance, update_notebook_instance):
        setattr(SageMakerModelBackend, fn.__name__, fn)
    SageMakerModelBackend.list_notebook_instances = list_notebook_instances

    def r_update(self):
        self.sagemaker_backend.update_notebook_instance(
            self._get_param("NotebookInstanceName"), self._get_param("LifecycleConfigName"),
            self._get_param("DisassociateLifecycleConfig"), self._get_param("VolumeSizeInGB"))
        return EmptyResult()

    def r_presigned(self):
        name = self._get_param("NotebookInstanceName")
        nb = self.sagemaker_backend.get_notebook_instance(name)
        token = secrets.token_urlsafe(16)
        return ActionResult({"AuthorizedUrl": f"https://{nb.url}?authToken={token}"})

    def r_update_config(self):
        name = self._get_param("NotebookInstanceLifecycleConfigName")
        config = self.sagemaker_backend.notebook_instance_lifecycle_configurations.get(name)
        if config is None:
            raise ValidationError(message=f"Unable to update Notebook Instance Lifecycle Config "
                                          f"{name}. (Details: it does not exist.)")
        if self._get_param("OnStart") is not None:
            config.on_start = self._get_param("OnStart")
        if self._get_param("OnCreate") is not None:
            config.on_create = self._get_param("OnCreate")
        return EmptyResult()

    SageMakerResponse.update_notebook_instance_lifecycle_config = r_update_config
    SageMakerResponse.update_notebook_instance = r_update
    SageMakerResponse.create_presigned_notebook_instance_url = r_presigned
