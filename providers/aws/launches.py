"""The id of each name's current EC2 launch, kept beside the AWS location cache (the
`launches` section of aws-locations.json, see nbctl_cloud.locations).

The id goes into RunInstances' ClientToken, so a launch retried by any process (after a
crash, a kill, a lost answer) is the same request; it is drawn afresh once the instance is
deleted, so a new launch of the same name is a new request. Random ids only: nothing here is a
secret. A missing or unreadable file costs, at worst, a launch id drawn anew.
"""
from __future__ import annotations

import secrets

from nbctl_cloud.locations import StateFile

SECTION = "launches"


class Launches:
    def __init__(self, file: StateFile):
        self.file = file

    def current(self, name: str) -> str:
        """The id of `name`'s current launch, drawn and written down before first use, so that
        it is on disk before any request carries it."""
        launch = self.file.read(SECTION).get(name)
        if isinstance(launch, str) and launch:
            return launch
        launch = secrets.token_hex(8)
        self.file.put(SECTION, name, launch)
        return launch

    def end(self, name: str) -> None:
        """The launch is over (its instance deleted): the next one draws a new id."""
        self.file.put(SECTION, name, None)
