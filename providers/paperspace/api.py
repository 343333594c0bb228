"""The Paperspace API v1 over httpx: Bearer key, JSON, cursor pages, the one retry policy.

Imported only when a verb needs the network (httpx loads here, not with the package).
Request and response shapes follow https://docs.digitalocean.com/reference/paperspace/api-reference/
(OpenAPI: https://api.paperspace.com/v1/openapi.json).
"""
from __future__ import annotations

from typing import Any

import httpx
from nbctl_cloud import faults

from .faults import classify, translate

PAGE_LIMIT = 120  # the documented maximum of `limit` on list endpoints
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Api:
    """One HTTP client for one API root and key. Every call is retried only on TransientError."""

    def __init__(self, base_url: str, key: str):
        self._http = httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=TIMEOUT,
                                  headers={"Authorization": f"Bearer {key}",
                                           "Accept": "application/json"})

    def call(self, method: str, path: str, *, body: dict | None = None,
             params: dict | None = None, retried: bool = True) -> Any:
        """The parsed JSON answer; an error answer raises through the faults table."""
        run = faults.call if retried else faults.once
        return run(translate, self._send, method, path, body, params)

    def pages(self, path: str, params: dict | None = None) -> list[dict]:
        """Every item of a list endpoint, following `hasMore`/`nextPage` cursors."""
        query = {"limit": PAGE_LIMIT, **(params or {})}
        items: list[dict] = []
        while True:
            page = self.call("GET", path, params=query) or {}
            items.extend(page.get("items") or [])
            if not page.get("hasMore") or not page.get("nextPage"):
                return items
            query = {**query, "after": page["nextPage"]}

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, body: dict | None, params: dict | None) -> Any:
        if body is None:
            # start/stop/restart take no body; sending none avoids a JSON content type.
            r = self._http.request(method, path.lstrip("/"), params=params)
        else:
            r = self._http.request(method, path.lstrip("/"), params=params, json=body)
        if r.status_code >= 400:
            raise classify(r.status_code, _json(r), what=f"Paperspace {method} /{path.lstrip('/')}")
        return _json(r) if r.content else None


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None
