"""The dashboard's web app (Starlette): pages rendered on the server, a little JavaScript that
re-fetches the live part of each page, and buttons that post to the core's verbs.

Every request needs the token (the cookie set from it, or an `Authorization: token` header) and
a Host header naming this server; every POST needs the XSRF token of the pages' forms.
"""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import NbctlError, UserError
from ..spec import parse_duration
from ..store import Store
from . import charts, data
from .actions import VERBS, Actions

HERE = Path(__file__).resolve().parent
RANGES = ("1d", "7d", "30d", "90d")
HEADERS = [(b"content-security-policy", b"default-src 'self'; img-src 'self' data:; "
            b"frame-ancestors 'none'; form-action 'self' http: https:"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
           (b"cache-control", b"no-store")]


def _same(given: str | None, secret: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), secret.encode())


class Guard:
    """ASGI middleware: the Host check, the token, and the headers every answer carries."""

    def __init__(self, app, token: str, hosts: set[str], cookie: str):
        self.app, self.token, self.hosts, self.cookie = app, token, hosts, cookie

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        request = Request(scope)
        if request.headers.get("host", "").lower() not in self.hosts:
            return await PlainTextResponse("403: this server answers only to the address "
                                           "`nbctl ui` printed", 403)(scope, receive,
                                                                     send_with_headers)
        given = request.query_params.get("token")
        if given is not None and _same(given, self.token) and request.method == "GET":
            # From the printed URL: keep the token in a cookie, and out of the address bar.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            where = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(where, 303)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict")
            return await response(scope, receive, send_with_headers)
        auth = request.headers.get("authorization", "")
        if not (_same(request.cookies.get(self.cookie), self.token)
                or _same(auth[6:] if auth.lower().startswith("token ") else None, self.token)):
            return await PlainTextResponse("403: no valid token: open the URL with ?token= "
                                           "that `nbctl ui` printed", 403)(scope, receive,
                                                                          send_with_headers)
        await self.app(scope, receive, send_with_headers)


def make_app(store: Store, token: str, hosts: set[str], port: int) -> Guard:
    """The dashboard over `store`, answering to `hosts` (host:port as browsers send them)."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    xsrf = hmac.new(token.encode(), b"nbctl-ui-xsrf", hashlib.sha256).hexdigest()
    actions = Actions(store)

    def page(request: Request, name: str, title: str, **ctx) -> HTMLResponse:
        ctx.update(xsrf=xsrf, path=request.url.path, query=request.url.query)
        body = env.get_template(f"{name}.html").render(**ctx)
        if request.query_params.get("part"):
            return HTMLResponse(body)
        return HTMLResponse(env.get_template("base.html").render(
            content=Markup(body), title=title, page=name, **ctx))

    def problem(request: Request, status: int, message: str) -> HTMLResponse:
        response = page(request, "problem", "nbctl", message=message, status=status)
        response.status_code = status
        return response

    def machines(request: Request) -> Response:
        return page(request, "machines", "machines", rows=data.machines(store),
                    last=dict(actions.last), refresh=actions.refresh_state,
                    refreshing=actions.refreshing)

    def job_list(request: Request) -> Response:
        return page(request, "jobs", "jobs", rows=data.job_list(store),
                    refresh=actions.refresh_state, refreshing=actions.refreshing)

    def job(request: Request) -> Response:
        try:
            d = data.job_detail(store, request.path_params["run_id"])
        except UserError as e:
            return problem(request, 404, str(e))
        return page(request, "job", d["job"]["run_id"], chart=Markup(
            charts.step_chart(d["points"], d["marks"])), refresh=actions.refresh_state,
            refreshing=actions.refreshing, log=data.log_tail(store, d["job"]["run_id"]), **d)

    def money(request: Request) -> Response:
        since = request.query_params.get("since", "7d")
        try:
            window = parse_duration(since, what="range")
        except UserError as e:
            return problem(request, 400, str(e))
        m = data.money(store, float(window))
        return page(request, "money", "money", since=since, ranges=RANGES,
                    chart=Markup(charts.daily_spend(m["daily"])), refresh=actions.refresh_state,
                    refreshing=actions.refreshing, **m)

    async def checked_form(request: Request):
        form = await request.form()
        given = form.get("_xsrf") or request.headers.get("x-xsrf-token")
        return form if _same(given if isinstance(given, str) else None, xsrf) else None

    async def machine_action(request: Request) -> Response:
        if await checked_form(request) is None:
            return PlainTextResponse("403: this action lacks the page's XSRF token: reload "
                                     "the page and try again", 403)
        name, verb = request.path_params["name"], request.path_params["verb"]
        try:
            if verb == "open":
                return RedirectResponse(await run_in_threadpool(actions.open_url, name), 303)
            if verb not in VERBS:
                return problem(request, 404, f"no action {verb!r}")
            await run_in_threadpool(actions.machine, verb, name)
        except NbctlError as e:
            with actions.lock:
                actions.last[name] = f"{verb} failed: {e}"
        return RedirectResponse("/machines", 303)

    async def refresh(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return PlainTextResponse("403: this action lacks the page's XSRF token: reload "
                                     "the page and try again", 403)
        actions.refresh()
        back = str(form.get("next") or "/machines")
        here = back.startswith("/") and not back.startswith(("//", "/\\"))  # not elsewhere
        return RedirectResponse(back if here else "/machines", 303)

    routes = [
        Route("/", lambda request: RedirectResponse("/machines", 303)),
        Route("/machines", machines),
        Route("/machines/{name}/{verb}", machine_action, methods=["POST"]),
        Route("/jobs", job_list),
        Route("/jobs/{run_id}", job),
        Route("/money", money),
        Route("/refresh", refresh, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    guard = Guard(Starlette(routes=routes), token, hosts, cookie=f"nbctl-ui-{port}")
    guard.actions = actions  # closed by the server when it stops
    return guard
