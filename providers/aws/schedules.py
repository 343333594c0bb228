"""Cron stop/start through EventBridge Scheduler, with universal targets that call the
SageMaker or EC2 API directly (no Lambda in between).

One schedule group per nbctl owner (created when missing); within it, one schedule per
instance and action: `<name>-stop`, `<name>-start`. FlexibleTimeWindow is OFF so that a
schedule fires at the minute asked, in ScheduleExpressionTimezone.
"""
from __future__ import annotations

import hashlib
import json
import re

from nbctl_cloud.errors import NotFound, UserError

from .cron import to_eventbridge
from .errors import call

TARGETS = {
    ("sagemaker", "stop"): "arn:aws:scheduler:::aws-sdk:sagemaker:stopNotebookInstance",
    ("sagemaker", "start"): "arn:aws:scheduler:::aws-sdk:sagemaker:startNotebookInstance",
    ("ec2", "stop"): "arn:aws:scheduler:::aws-sdk:ec2:stopInstances",
    ("ec2", "start"): "arn:aws:scheduler:::aws-sdk:ec2:startInstances",
}
ACTIONS = ("stop", "start")


def group_name(owner: str) -> str:
    """Schedule group names: 1-64 of [0-9a-zA-Z-_.]."""
    safe = re.sub(r"[^0-9A-Za-z_.-]", "-", owner)[:50]
    return f"nbctl-{safe}"


def schedule_name(name: str, action: str) -> str:
    """Schedule names: 1-64 characters; long instance names keep a digest to stay unique."""
    full = f"{name}-{action}"
    if len(full) <= 64:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:64 - len(action) - 10]}-{digest}-{action}"


def target_input(backend: str, native: str) -> str:
    """The API request the universal target sends: the notebook's name or the instance id."""
    if backend == "sagemaker":
        return json.dumps({"NotebookInstanceName": native})
    return json.dumps({"InstanceIds": [native]})


class Schedules:
    def __init__(self, clients, settings, owner: str):
        self.clients = clients
        self.s = settings
        self.owner = owner

    def _client(self, region: str):
        return self.clients.get("scheduler", region)

    def ensure_group(self, region: str) -> str:
        group = group_name(self.owner)
        client = self._client(region)
        try:
            call(client.get_schedule_group, action="read schedule group", Name=group)
        except NotFound:
            try:
                call(client.create_schedule_group, action="create schedule group", Name=group)
            except UserError as e:  # created meanwhile by another nbctl
                if "exist" not in e.message.lower():
                    raise
        return group

    def put(self, *, name: str, backend: str, native: str, region: str, schedule) -> list[str]:
        """Create or replace the stop/start schedules of one instance; returns their names.
        An action the schedule no longer has is removed."""
        role = self.s.require_scheduler_role()
        exprs = {"stop": schedule.stop, "start": schedule.start}
        translated = {a: to_eventbridge(e) for a, e in exprs.items() if e}  # fail before writing
        group = self.ensure_group(region)
        client = self._client(region)
        made = []
        for action in ACTIONS:
            sname = schedule_name(name, action)
            if action not in translated:
                self._delete(client, group, sname)
                continue
            params = {
                "Name": sname, "GroupName": group,
                "ScheduleExpression": translated[action],
                "ScheduleExpressionTimezone": schedule.tz,
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "State": "ENABLED",
                "Description": f"nbctl: {action} {name} at cron {exprs[action]!r} ({schedule.tz})",
                "Target": {"Arn": TARGETS[(backend, action)], "RoleArn": role,
                           "Input": target_input(backend, native)},
            }
            try:
                call(client.update_schedule, action=f"update schedule {sname}", **params)
            except NotFound:
                call(client.create_schedule, action=f"create schedule {sname}", **params)
            made.append(sname)
        return made

    def clear(self, name: str, region: str) -> None:
        """Delete both schedules of an instance; missing ones are fine."""
        client = self._client(region)
        group = group_name(self.owner)
        for action in ACTIONS:
            self._delete(client, group, schedule_name(name, action))

    @staticmethod
    def _delete(client, group: str, sname: str) -> None:
        try:
            call(client.delete_schedule, action=f"delete schedule {sname}", Name=sname,
                 GroupName=group)
        except NotFound:
            pass
