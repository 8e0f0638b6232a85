"""The review pages: each handler reads one thing from tools.review (in a worker thread: the
ledger is SQLite) and renders one template. Nothing here counts or decides."""
from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rigorlab.core.errors import NotFound, UserError
from rigorlab.tools.review import experiments, jobs, overview, report, rules
from rigorlab.tools.review.db import NoLedger

WINDOWS_H = (6, 12, 24, 72, 168)


MAX_HOURS = 24 * 366 * 10
MAX_PAGE = 1_000_000
MAX_OFFSET = 1 << 50


def _int(request: Request, name: str, default: int, low: int = 1, high: int = MAX_PAGE) -> int:
    """An integer query parameter, within [low, high]; the default when it is not one."""
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        return default
    return min(max(value, low), high)


async def _page(request: Request, template: str, build, **context) -> Response:
    """Render `template` with what `build()` returns; a problem the reader can fix (a bad
    filter, an unknown id, no ledger yet) is shown on the page with what to do."""
    source = request.app.state.source
    status, data, problem = 200, None, None
    try:
        data = await run_in_threadpool(build, source)
    except NoLedger as exc:
        problem = str(exc)
    except NotFound as exc:
        status, problem = 404, str(exc)
    except UserError as exc:
        status, problem = 400, str(exc)
    return request.app.state.templates.TemplateResponse(
        request, template, {"data": data, "problem": problem, "page": template.split(".")[0],
                            "q": request.query_params, **context}, status_code=status)


async def overview_page(request: Request) -> Response:
    hours = _int(request, "hours", 24, high=MAX_HOURS)
    metric = request.query_params.get("metric") or None
    baseline = request.query_params.get("baseline") or None

    def build(source):
        now = time.time()
        since = now - hours * 3600
        night = overview.night(source.conn(), source.workspace, since=since, now=now,
                               metric=metric, baseline=baseline)
        return {"night": night, "timeline": overview.timeline_columns(night["timeline"]),
                "rules": source.rules_check(wait=False)}
    return await _page(request, "overview.html", build, hours=hours, windows=WINDOWS_H)


async def experiments_page(request: Request) -> Response:
    q = request.query_params
    rows_are = q.get("rows", "experiments")
    aggregate = None if rows_are == "runs" else (q.get("aggregate") or "mean")

    def build(source):
        return experiments.table(source.conn(), filter=q.get("filter", ""),
                                 order_by=q.get("order", ""), aggregate=aggregate,
                                 value=q.get("value", "last"), page=_int(request, "page", 1),
                                 include_invalid=q.get("invalid") == "1")
    return await _page(request, "experiments.html", build, aggregate=aggregate, rows_are=rows_are)


async def experiment_page(request: Request) -> Response:
    eid = request.path_params["experiment_id"]

    def build(source):
        d = experiments.detail(source.conn(), source.workspace, eid)
        e = d["experiment"]
        ids = [eid] + [x for x in (e["parent_id"], d["focus"].baseline) if x and x != eid]
        d["curves"] = experiments.curves(source.conn(), ids)
        return d
    return await _page(request, "experiment.html", build, eid=eid)


async def curves_page(request: Request) -> Response:
    ids = [i for raw in request.query_params.getlist("ids") for i in raw.split(",") if i.strip()]
    metric = request.query_params.get("metric") or None

    def build(source):
        if not ids:
            raise UserError("pick experiments to overlay: tick them in the experiments table, "
                            "or add ?ids=E001,E002 to the address")
        return experiments.curves(source.conn(), ids, [metric] if metric else None)
    return await _page(request, "curves.html", build, ids=ids)


async def jobs_page(request: Request) -> Response:
    q = request.query_params

    def build(source):
        return jobs.listing(source.conn(), state=q.get("state", ""), target=q.get("target", ""),
                            experiment=q.get("experiment", ""), page=_int(request, "page", 1))
    return await _page(request, "jobs.html", build)


async def job_page(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    return await _page(request, "job.html", lambda source: jobs.detail(source.conn(), job_id))


async def job_log(request: Request) -> Response:
    """JSON for the live log: the tail, or what was written since `offset`, and the state."""
    job_id = request.path_params["job_id"]
    stream = request.query_params.get("stream", "stdout")
    offset = _int(request, "offset", -1, low=-1, high=MAX_OFFSET)
    offset = None if offset < 0 else offset

    def build(source):
        job = jobs.detail(source.conn(), job_id)["job"]
        try:
            tail = jobs.log_tail(source.logs, job_id, stream, offset)
        except (UserError, OSError) as exc:     # OSError: an offset past what the file system allows
            tail = {"text": "", "next_offset": offset or 0, "complete": job.terminal,
                    "note": str(exc)}
        return {**tail, "state": job.state.value, "live": not job.terminal,
                "exit_code": job.exit_code}
    try:
        body = await run_in_threadpool(build, request.app.state.source)
    except NotFound as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except UserError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(body)


async def rules_page(request: Request) -> Response:
    def build(source):
        conn = source.conn()
        return {"check": source.rules_check(), "protections": rules.protections(conn),
                "invalid": rules.invalid_runs(conn, _int(request, "page", 1))}
    return await _page(request, "rules.html", build)


async def report_page(request: Request) -> Response:
    return await _page(request, "report.html", lambda source: report.report(source.workspace))


async def report_image(request: Request) -> Response:
    rel = request.query_params.get("path", "")
    try:
        data, kind = await run_in_threadpool(report.image, request.app.state.source.workspace, rel)
    except (UserError, OSError) as exc:
        return Response(f"{exc}\n", status_code=404, media_type="text/plain")
    return Response(data, media_type=kind, headers={"Cache-Control": "no-store"})
