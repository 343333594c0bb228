"""Compute Engine resource policies (instance schedules), and attaching them to instances."""
from __future__ import annotations

import re

from .compute_operations import BASE, http_error, not_found, rid
from .state import Ids, now_iso


class ResourcePolicies:
    """The resource-policy half of the Compute fake; the class using it provides `instances`,
    `_get_instance`, `_operation` and `_replayed`."""

    project: str
    ids: Ids
    policies: dict[tuple[str, str], dict]  # (region, name) -> ResourcePolicy JSON
    instances: dict[tuple[str, str], dict]

    def add_policies(self, p: dict, query: dict, body: dict, fault) -> dict:
        inst = self._get_instance(p)
        region = p["zone"].rsplit("-", 1)[0]
        urls = []
        for url in body.get("resourcePolicies", []):
            m = re.search(r"regions/([^/]+)/resourcePolicies/([^/]+)$", url)
            if not m or (m.group(1), m.group(2)) not in self.policies:
                raise http_error(404, "notFound", f"The resource '{url}' was not found")
            if m.group(1) != region:
                raise http_error(400, "invalid", f"Resource policy {url} is not in region {region}")
            urls.append(self.policies[(m.group(1), m.group(2))]["selfLink"])
        have = inst.setdefault("resourcePolicies", [])
        if any("/resourcePolicies/" in u for u in have) and urls:
            raise http_error(400, "invalid", "An instance can have only one instance schedule policy.")

        def act():
            have.extend(u for u in urls if u not in have)
        return self._operation(zone=p["zone"], kind="addResourcePolicies", target=inst["selfLink"],
                               target_id=inst["id"], request_id=rid(query), then=act)

    def remove_policies(self, p: dict, query: dict, body: dict, fault) -> dict:
        inst = self._get_instance(p)
        drop = {u.rsplit("/", 1)[-1] for u in body.get("resourcePolicies", [])}

        def act():
            inst["resourcePolicies"] = [u for u in inst.get("resourcePolicies", [])
                                        if u.rsplit("/", 1)[-1] not in drop]
        return self._operation(zone=p["zone"], kind="removeResourcePolicies", target=inst["selfLink"],
                               target_id=inst["id"], request_id=rid(query), then=act)

    def policy_insert(self, p: dict, query: dict, body: dict, fault) -> dict:
        again = self._replayed(query, "policy-insert")
        if again is not None:
            return again
        region, name = p["region"], body.get("name", "")
        if (region, name) in self.policies:
            raise http_error(409, "alreadyExists", f"The resource 'projects/{self.project}/regions/"
                             f"{region}/resourcePolicies/{name}' already exists")
        sched = body.get("instanceSchedulePolicy") or {}
        if not sched.get("timeZone") or not (sched.get("vmStartSchedule") or sched.get("vmStopSchedule")):
            raise http_error(400, "invalid", "instanceSchedulePolicy needs timeZone and a schedule")
        link = f"{BASE}/projects/{self.project}/regions/{region}/resourcePolicies/{name}"
        pol = dict(body, kind="compute#resourcePolicy", id=self.ids.next(), selfLink=link,
                   region=f"{BASE}/projects/{self.project}/regions/{region}", status="CREATING",
                   creationTimestamp=now_iso())

        def act():
            pol["status"] = "READY"
            self.policies[(region, name)] = pol
        return self._operation(region=region, kind="insert", method="policy-insert", target=link,
                               target_id=pol["id"],
                               request_id=rid(query), then=act)

    def policy_get(self, p: dict, query, body, fault) -> dict:
        pol = self.policies.get((p["region"], p["resourcePolicy"]))
        if pol is None:
            raise not_found("policy", f"projects/{p['project']}/regions/{p['region']}/resourcePolicies/{p['resourcePolicy']}")
        return pol

    def policy_delete(self, p: dict, query, body, fault) -> dict:
        pol = self.policy_get(p, query, body, fault)
        users = [i["selfLink"] for i in self.instances.values()
                 if pol["selfLink"] in i.get("resourcePolicies", [])]
        if users:
            raise http_error(400, "resourceInUseByAnotherResource",
                             f"The resource_policy resource '{pol['selfLink']}' is already being "
                             f"used by '{users[0]}'")
        key = (p["region"], p["resourcePolicy"])
        return self._operation(region=p["region"], kind="delete", method="policy-delete",
                               target=pol["selfLink"],
                               target_id=pol["id"], request_id=rid(query),
                               then=lambda: self.policies.pop(key, None))

    def policy_list(self, p: dict, query, body, fault) -> dict:
        items = [pol for (r, _), pol in self.policies.items() if r == p["region"]]
        return {"kind": "compute#resourcePolicyList", "items": items,
                "id": f"projects/{self.project}/regions/{p['region']}/resourcePolicies"}

