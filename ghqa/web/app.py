"""The web application: pages, the live event stream, the code view and the trace viewer."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..settings import Settings
from .askform import STRATEGIES, FormError, parse_form
from .codeview import CONTEXT_LINES, read_code
from .highlight import style_sheet
from .history import History, RunRecord
from .pages import PageRenderer, code_url, record_answer
from .runs import RUN_ID, RunManager
from .security import Guard, Redactor, secrets_of
from .traceview import TraceView, looks_like_trace, read_records

STATIC_DIR = Path(__file__).parent / "static"
#: Largest trace file the viewer opens (upload or path).
MAX_TRACE_BYTES = 200_000_000
#: Largest upload accepted.
MAX_UPLOAD_BYTES = 50_000_000
_UPLOAD_NAME = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class Web:
    """What the routes share."""

    settings: Settings
    history: History
    runs: RunManager
    pages: PageRenderer
    redactor: Redactor

    def html(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.pages.page(template, **context), status_code=status)

    def error(self, status: int, title: str, message: str) -> HTMLResponse:
        return self.html("error.html", status, title=title, message=message, nav="")


def create_app(
    settings: Settings | None = None,
    *,
    token: str | None = None,
    loopback_only: bool = True,
    env: Mapping[str, str] | None = None,
) -> Starlette:
    """The ``ghqa serve`` application.

    ``token``: every request must carry it; ``loopback_only``: only requests addressed to
    127.0.0.1 or localhost are served (the default binding); ``env``: the environment questions
    run with (default: this process's, which is where the model key lives)."""
    settings = settings or Settings.resolve()
    history = History(settings.cache_root)
    history.mark_orphans(os.getpid())
    redactor = secrets_of(settings, env, token)
    pages = PageRenderer()
    runs = RunManager(settings, history, redactor, pages, code_url, env)
    web = Web(settings, history, runs, pages, redactor)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runs.close()

    routes = [
        Route("/", partial(index, web)),
        Route("/ask", partial(ask, web), methods=["POST"]),
        Route("/runs/{run_id}", partial(run_page, web)),
        Route("/runs/{run_id}/events", partial(run_events, web)),
        Route("/runs/{run_id}/cancel", partial(run_cancel, web), methods=["POST"]),
        Route("/runs/{run_id}/delete", partial(run_delete, web), methods=["POST"]),
        Route("/runs/{run_id}/trace.jsonl", partial(run_trace, web)),
        Route("/runs/{run_id}/answer.json", partial(run_json, web)),
        Route("/code", partial(code, web)),
        Route("/traces", partial(traces, web), methods=["GET", "POST"]),
        Route("/traces/view", partial(trace_view, web)),
        Route("/highlight.css", highlight_css),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=token, loopback_only=loopback_only)],
        lifespan=lifespan,
    )
    app.state.web = web
    return app


# -- asking ----------------------------------------------------------------------------------


async def index(web: Web, request: Request) -> Response:
    form: dict[str, Any] = {}
    source = web.history.get(str(request.query_params.get("from") or ""))
    if source is None:
        recent = web.history.recent(1)
        source = recent[0] if recent else None
        keep_question = False
    else:
        keep_question = True
    if source is not None:
        form = {
            "repo": source.repo,
            "paths": " ".join(source.paths),
            "ref": source.ref or "",
            "question": source.question if keep_question else "",
            **{k: v for k, v in source.options.items() if keep_question},
        }
    return _index_page(web, form)


def _index_page(
    web: Web, form: Mapping[str, Any], error: str | None = None, field: str | None = None
) -> HTMLResponse:
    s = web.settings
    values = {k: "" for k in ("repo", "paths", "ref", "question", "model", "max_calls")}
    values.update({k: ("" if v is None else v) for k, v in form.items()})
    values["max_cost"] = form.get("max_cost") or ""
    values["strategy"] = form.get("strategy") or s.strategy
    return web.html(
        "index.html",
        400 if error else 200,
        nav="ask",
        form=values,
        error=error,
        field=field,
        runs=web.history.recent(),
        strategies=STRATEGIES,
        default_model=s.model
        or ("the server's first model" if s.base_url or s.api_key else f"local {s.local_model}"),
        defaults={"max_calls": s.max_calls, "max_cost": s.max_cost},
    )


async def ask(web: Web, request: Request) -> Response:
    async with request.form(max_files=0) as submitted:
        form = {k: v for k, v in submitted.items() if isinstance(v, str)}
    try:
        asked = parse_form(form, web.settings)
    except FormError as exc:
        return _index_page(web, form, str(exc), exc.field)
    record = await web.runs.start(asked)
    return RedirectResponse(f"/runs/{record.id}", status_code=303)


# -- runs ------------------------------------------------------------------------------------


def _record(web: Web, request: Request) -> RunRecord | None:
    run_id = str(request.path_params["run_id"])
    return web.history.get(run_id) if RUN_ID.match(run_id) else None


async def run_page(web: Web, request: Request) -> Response:
    record = _record(web, request)
    if record is None:
        return web.error(404, "No such question", "It is not in the history (was it deleted?).")
    live = web.runs.get(record.id)
    following = live is not None and not live.finished and record.running
    view = None
    if not following:
        view = _trace_of(web, record)
        if live is not None:
            record = live.record
    usage = RunManager.usage(view or TraceView())
    answer = record.answer or {}
    commit = str(answer.get("commit") or (view.commit if view else "") or "")
    end = record.finished or time.time()
    return web.html(
        "run.html",
        nav="",
        record=record,
        live=following,
        roots=view.roots if view else [],
        usage=usage,
        state=record.badge,
        commit=commit,
        elapsed=(end - record.created) if not following else 0.0,
        a=record_answer(record),
    )


def _trace_of(web: Web, record: RunRecord) -> TraceView | None:
    path = Path(record.trace_path)
    view = TraceView(web.redactor, code_url, record.repo)
    if not path.is_file():
        return view
    view.feed(read_records(path))
    return view


async def run_events(web: Web, request: Request) -> Response:
    run_id = str(request.path_params["run_id"])
    live = web.runs.get(run_id)
    if live is None:
        return Response(status_code=204)
    try:
        after = int(request.headers.get("last-event-id") or request.query_params.get("after") or 0)
    except ValueError:
        after = 0
    if live.finished and after >= len(live.messages):
        return Response(status_code=204)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async for message in live.follow(after):
            if message is None:
                yield ": keep-alive\n\n"
            else:
                yield f"id: {message.seq}\nevent: {message.event}\ndata: {message.data}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def run_cancel(web: Web, request: Request) -> Response:
    record = _record(web, request)
    if record is None:
        return PlainTextResponse("no such run", status_code=404)
    cancelling = await web.runs.cancel(record.id)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"cancelling": cancelling})
    return RedirectResponse(f"/runs/{record.id}", status_code=303)


async def run_delete(web: Web, request: Request) -> Response:
    record = _record(web, request)
    if record is not None:
        web.history.delete(record.id)
    return RedirectResponse("/", status_code=303)


async def run_trace(web: Web, request: Request) -> Response:
    record = _record(web, request)
    path = Path(record.trace_path) if record else None
    if path is None or not path.is_file():
        return PlainTextResponse("no trace", status_code=404)
    text = web.redactor.text(path.read_text(encoding="utf-8", errors="replace"))
    return Response(
        text,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="ghqa-{path.stem}.jsonl"'},
    )


async def run_json(web: Web, request: Request) -> Response:
    record = _record(web, request)
    if record is None:
        return JSONResponse({"error": "no such run"}, status_code=404)
    return JSONResponse(
        {
            "id": record.id,
            "status": record.status,
            "repo": record.repo,
            "paths": record.paths,
            "ref": record.ref,
            "question": record.question,
            "options": record.options,
            "answer": record.answer,
            "error": record.error,
            "progress": record.progress,
        }
    )


# -- code ------------------------------------------------------------------------------------


async def code(web: Web, request: Request) -> Response:
    q = request.query_params
    try:
        start = int(q.get("start") or 1)
        end = int(q.get("end") or start)
    except ValueError:
        return web.error(400, "Bad request", "start and end must be line numbers")
    whole = q.get("context") == "all"
    context = None if whole else CONTEXT_LINES
    repo, commit, path = (str(q.get(k) or "") for k in ("repo", "commit", "path"))
    view = read_code(web.settings, repo, commit, path, start, end, context)
    view.error = web.redactor.text(view.error) if view.error else None
    base = code_url(repo, commit, path, view.start, view.end)
    fragment = q.get("fragment") == "1"
    context_vars = {
        "v": view,
        "fragment": fragment,
        "page_url": base + ("&context=all" if whole else ""),
        "whole_url": f"{base}&context=all{'&fragment=1' if fragment else ''}#L{view.start}",
    }
    status = 404 if view.error else 200
    if fragment:  # shown in the page's side panel, which says what went wrong
        return HTMLResponse(web.pages.page("_code.html", **context_vars))
    return web.html("code.html", status, nav="", **context_vars)


async def highlight_css(request: Request) -> Response:
    return Response(style_sheet(), media_type="text/css")


# -- traces from anywhere --------------------------------------------------------------------


async def traces(web: Web, request: Request) -> Response:
    if request.method == "POST":
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return _traces_page(web, "Choose a trace file to upload.")
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            filename = upload.filename
        if len(data) > MAX_UPLOAD_BYTES:
            return _traces_page(web, f"The file is larger than {MAX_UPLOAD_BYTES:,} bytes.")
        name = hashlib.sha256(data).hexdigest()[:16]
        folder = _uploads(web)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.jsonl"
        target.write_bytes(data)
        if not looks_like_trace(target):
            target.unlink()
            return _traces_page(web, f"{filename} is not a ghqa trace (a JSONL file).")
        return RedirectResponse(f"/traces/view?upload={name}", status_code=303)
    return _traces_page(web)


def _uploads(web: Web) -> Path:
    return web.settings.cache_root / "web" / "uploads"


def _traces_page(web: Web, error: str | None = None, path: str | None = None) -> HTMLResponse:
    folder = web.settings.cache_root / "traces"
    found = []
    with contextlib.suppress(OSError):
        files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in files[:30]:
            st = p.stat()
            found.append(
                {
                    "path": str(p),
                    "name": p.name,
                    "size": st.st_size,
                    "mtime": st.st_mtime,
                    "question": _first_question(p),
                }  # fmt: skip
            )
    return web.html(
        "traces.html", 400 if error else 200, nav="traces", error=error, path=path,
        recent=found, folder=str(folder),
    )  # fmt: skip


def _first_question(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError, UnicodeDecodeError):
        with path.open(encoding="utf-8") as f:
            record = json.loads(f.readline(100_000))
        if isinstance(record, dict) and record.get("type") == "question":
            return str(record.get("question") or "")
    return ""


async def trace_view(web: Web, request: Request) -> Response:
    q = request.query_params
    upload = str(q.get("upload") or "")
    if upload:
        if not _UPLOAD_NAME.match(upload):
            return _traces_page(web, "No such upload.")
        path = _uploads(web) / f"{upload}.jsonl"
        name = "uploaded trace"
    else:
        text = str(q.get("path") or "").strip()
        if not text:
            return _traces_page(web, "Give the path of a trace file.")
        path = Path(text).expanduser()
        name = path.name
    problem = _unreadable(path)
    if problem:
        return _traces_page(web, problem, None if upload else str(path))
    view = TraceView(web.redactor, code_url)
    view.feed(read_records(path))
    question = view.question or {}
    record = RunRecord(
        id="",
        repo=str(question.get("repo") or ""),
        question=str(question.get("question") or ""),
        trace_path=str(path),
        status="done",
        answer=view.answer_as_dict(),
    )
    state = "done" if view.answer else "incomplete"
    if view.answer and view.answer.get("partial"):
        state = "partial"
    return web.html(
        "traceview.html",
        nav="traces",
        name=name,
        records=view.records,
        question=record.question,
        q=view.question,
        roots=view.roots,
        usage=RunManager.usage(view),
        state=state,
        elapsed=float((view.answer or {}).get("t") or 0.0) or None,
        record=record,
        a=record_answer(record),
    )


def _unreadable(path: Path) -> str | None:
    try:
        if not path.is_file():
            return f"{path} is not a file."
        if path.stat().st_size > MAX_TRACE_BYTES:
            return f"{path} is larger than {MAX_TRACE_BYTES:,} bytes."
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}."
    if not looks_like_trace(path):
        return f"{path} is not a ghqa trace (a JSONL file of engine events)."
    return None
