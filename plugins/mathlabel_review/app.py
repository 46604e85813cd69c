"""The review workspace's FastAPI app, mounted by Airflow's API server at ``/mathlabel`` (``fastapi_apps``).

Thin routes over ``review.workspace.ReviewWorkspace``: each checks the login (``auth``), turns the request into a
call and the review package's errors into statuses (404 unknown, 409 stale with the current document, 422 a code
the curriculum lacks, 428 a write without ``If-Match``). The page and its assets are served here too, behind the
same login, and work offline (KaTeX and Swagger UI are vendored under ``static/vendor``).
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request, Response, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from plugins.mathlabel_review.auth import Reader, Reviewer, may_review, user_name
from review.errors import DocumentNotFound, InvalidReview, ReviewError, StaleVersion
from review.vocabulary import MAX_BULK, REJECT_REASONS, BulkItem

if TYPE_CHECKING:
    from review.workspace import ReviewWorkspace

log = logging.getLogger("mathlabel.review")
STATIC = Path(__file__).parent / "static"
API_VERSION = "v1"
LABELER_TTL = 60.0  # seconds a curriculum's labeler is reused: a newly promoted champion serves within a minute


# ------------------------------------------------------------------------------------------------ wiring


@lru_cache(maxsize=1)
def workspace() -> ReviewWorkspace:
    """The workspace over the configured stores (Airflow connections in production), built on first use."""
    from mathlabel.config import get_settings
    from operators.clients import build_stores
    from review.workspace import ReviewWorkspace

    settings = get_settings()
    stores = build_stores(settings)
    labelers: dict[str, tuple[float, Any]] = {}
    lock = threading.Lock()

    def labeler_for(index: Any) -> Any:
        from training.registry import labeler_from_settings

        with lock:
            found = labelers.get(index.curriculum)
            if found and time.monotonic() - found[0] < LABELER_TTL:
                return found[1]
        labeler = labeler_from_settings(index, settings, stores.registry)
        with lock:
            labelers[index.curriculum] = (time.monotonic(), labeler)
        return labeler

    labeling = settings.labeling
    return ReviewWorkspace(
        stores.labels, stores.graph, stores.objects,
        labeler_for=labeler_for,
        on_demand={"top_k": labeling.top_k, "auto_accept_score": labeling.auto_accept_score,
                   "max_text_chars": labeling.max_text_chars},
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ bodies


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Note = Annotated[str | None, Field(default=None, max_length=2000)]
Code = Annotated[str, Field(min_length=1, max_length=64)]


class AcceptBody(Strict):
    note: Note = None


class CorrectBody(Strict):
    codes: list[Code] = Field(min_length=1, max_length=10)
    curriculum: str | None = Field(default=None, max_length=64)
    note: Note = None


class RejectBody(Strict):
    reason: Literal[tuple(REJECT_REASONS)]  # type: ignore[valid-type]
    note: Note = None


class TextBody(Strict):
    text: str = Field(min_length=1, max_length=8000)


class BulkEntry(Strict):
    id: str = Field(min_length=1, max_length=600)
    version: int = Field(ge=1)


class BulkBody(Strict):
    items: list[BulkEntry] = Field(min_length=1, max_length=MAX_BULK)
    note: Note = None


class ProblemIn(Strict):
    id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=8000)
    school: str | None = Field(default=None, max_length=20)
    grade: int | str | None = None
    course: str | None = Field(default=None, max_length=100)
    unit: str | None = Field(default=None, max_length=200)


class LabelBody(Strict):
    curriculum: str = Field(min_length=1, max_length=64)
    source: str = Field(default="on-demand", min_length=1, max_length=200, pattern=r"^[\w.\-/ ]+$")
    problems: list[ProblemIn] = Field(min_length=1, max_length=20)


# ------------------------------------------------------------------------------------------------ routes


def _version(if_match: str | None) -> int:
    """The version an ``If-Match`` header names (``3``, ``"3"`` or ``W/"3"``)."""
    if if_match is None:
        raise HTTPException(status.HTTP_428_PRECONDITION_REQUIRED, "send the version you reviewed as If-Match")
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"If-Match {if_match!r} is not a version number")
    return int(raw)


def _document(view: dict[str, Any]) -> JSONResponse:
    return JSONResponse(view, headers={"ETag": f'"{view["version"]}"'})


def _wrote(user: Any, action: str, doc_id: str, view: dict[str, Any]) -> JSONResponse:
    log.info("review: %s %s %s -> version %s", user_name(user), action, doc_id, view["version"])
    return _document(view)


IfMatch = Annotated[str | None, Header(alias="If-Match")]
api = APIRouter(prefix=f"/api/{API_VERSION}")


@api.get("/me")
def me(user: Reader) -> dict[str, Any]:
    return {"user": user_name(user), "can_review": may_review(user)}


@api.get("/curricula")
def curricula(user: Reader) -> list[dict[str, Any]]:
    """The curricula seeded in the graph (id and name), for the page's filter and standards search."""
    return workspace().curricula()


@api.get("/queue")
def queue(
    user: Reader,
    status_: Annotated[str, Query(alias="status")] = "needs_review",
    curriculum: str | None = None,
    run_id: str | None = None,
    reason: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    source: Literal["text", "page"] | None = None,
    order: Literal["uncertainty", "age"] = "uncertainty",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, Any]:
    """A page of the review queue (smallest margin first, or oldest first), with counts per reason."""
    try:
        return workspace().queue(
            status=None if status_ == "any" else status_, curriculum=curriculum or None, run_id=run_id or None,
            reason=reason or None, min_score=min_score, max_score=max_score, source=source,
            order="oldest" if order == "age" else order,  # labeling.documents.QUEUE_ORDERS' name for it
            limit=limit, cursor=cursor or None,
        )  # fmt: skip
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc


@api.get("/runs/{run_id}/summary")
def run_summary(run_id: str, user: Reader) -> dict[str, Any]:
    return workspace().run_summary(run_id)


@api.get("/health")
def health(user: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 30) -> dict[str, Any]:
    """The Health page's data: the last ``limit`` runs' measures (oldest first) with each report's link, the latest
    run's trailing baseline, reviewer agreement per model version and curriculum, and the review queue's size and
    age."""
    from review.health import health as measure

    ws = workspace()
    return measure(ws.labels, ws.objects, limit=limit)


@api.get("/runs/{run_id}/report", include_in_schema=False)
def run_report(run_id: str, user: Reader) -> Response:
    """A run's HTML report, read from the object store (``reports/<run id>.html``); it fetches nothing."""
    from labeling.batch import report_key
    from stores.errors import StoreError

    objects = workspace().objects
    key = report_key(run_id, "html")
    try:
        body = objects.read_bytes(key) if objects.exists(key) else None
    except StoreError:
        body = None
    if body is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no report of run {run_id!r}")
    # A stored page served from this origin: it may style itself, and nothing more (no script, no fetch).
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return Response(body, media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": csp, "Cache-Control": "private, max-age=60"})  # fmt: skip


@api.get("/standards")
def standards(
    user: Reader,
    curriculum: Annotated[str, Query(min_length=1, max_length=64)],
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[dict[str, Any]]:
    """Any standard of a curriculum, by code prefix or by words (from the curriculum graph)."""
    return workspace().search_standards(curriculum, q, limit)


@api.post("/labels/bulk-accept")
def bulk_accept(body: BulkBody, user: Reviewer) -> dict[str, Any]:
    """Accept each listed (id, version) still at that version; stale, missing and refused ones are listed."""
    items = [BulkItem(entry.id, entry.version) for entry in body.items]
    result = workspace().bulk_accept(items, reviewer=user_name(user), note=body.note)
    log.info("review: %s bulk-accepted %d of %d", user_name(user), len(result["accepted"]), len(items))
    return result


@api.post("/label")
def label_now(body: LabelBody, user: Reviewer) -> dict[str, Any]:
    """Label a few problems now with the curriculum's champion; they are stored like a batch's label documents."""
    problems = [p.model_dump(exclude_none=True) for p in body.problems]
    docs = workspace().label_now(problems, curriculum=body.curriculum, source=body.source)
    log.info("review: %s labeled %d problems on demand", user_name(user), len(docs))
    return {"documents": docs}


@api.get("/labels/{doc_id:path}/crop")
def crop(doc_id: str, user: Reader) -> Response:
    """The PNG crop of a page problem, read from the object store."""
    headers = {"Cache-Control": "private, max-age=3600"}
    return Response(workspace().crop(doc_id), media_type="image/png", headers=headers)


@api.post("/labels/{doc_id:path}/accept")
def accept(doc_id: str, body: AcceptBody, user: Reviewer, if_match: IfMatch = None) -> JSONResponse:
    view = workspace().accept(doc_id, version=_version(if_match), reviewer=user_name(user), note=body.note)
    return _wrote(user, "accepted", doc_id, view)


@api.post("/labels/{doc_id:path}/correct")
def correct(doc_id: str, body: CorrectBody, user: Reviewer, if_match: IfMatch = None) -> JSONResponse:
    view = workspace().correct(doc_id, version=_version(if_match), reviewer=user_name(user), codes=body.codes,
                               curriculum=body.curriculum, note=body.note)  # fmt: skip
    return _wrote(user, "corrected", doc_id, view)


@api.post("/labels/{doc_id:path}/reject")
def reject(doc_id: str, body: RejectBody, user: Reviewer, if_match: IfMatch = None) -> JSONResponse:
    view = workspace().reject(doc_id, version=_version(if_match), reviewer=user_name(user), reason=body.reason,
                              note=body.note)  # fmt: skip
    return _wrote(user, "rejected", doc_id, view)


@api.post("/labels/{doc_id:path}/text")
def edit_text(doc_id: str, body: TextBody, user: Reviewer, if_match: IfMatch = None) -> JSONResponse:
    view = workspace().edit_text(doc_id, version=_version(if_match), reviewer=user_name(user), text=body.text)
    return _wrote(user, "corrected the text of", doc_id, view)


@api.get("/labels/{doc_id:path}")
def label(doc_id: str, user: Reader) -> JSONResponse:
    """One label document: text or page crop with OCR regions, ranked candidates with the graph's context, history."""
    return _document(workspace().view(doc_id))


# ------------------------------------------------------------------------------------------------ the app


class RequestMetrics:
    """ASGI middleware: each request counted and timed by its route template (``/api/v1/labels/{doc_id:path}/accept``,
    never the id: few tag values), method and status, 409s included (``plugins.mathlabel_metrics``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status_code = 500  # an exception that escapes every handler

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            from plugins.mathlabel_metrics import record_request

            route = getattr(scope.get("route"), "path", None) or "unmatched"
            record_request(route, scope.get("method", ""), status_code, time.monotonic() - started)


def create_app() -> FastAPI:
    from plugins.mathlabel_metrics import register_metrics

    register_metrics()  # the reviews decided in this process become metrics
    app = FastAPI(
        title="mathlabel review API",
        version=API_VERSION,
        description="Review labels of math problems: the queue, one label document, accept / correct / reject with "
        "If-Match, bulk accept, standards search, on-demand labeling. Log in to Airflow first (cookie), or send "
        "`Authorization: Bearer <token>` from Airflow's `POST /auth/token`.",
        docs_url=None,  # FastAPI's own docs routes would be open to anyone, and load Swagger UI from a CDN
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(api)
    app.add_middleware(RequestMetrics)

    @app.exception_handler(ReviewError)
    async def review_error(request: Request, exc: ReviewError) -> JSONResponse:
        if isinstance(exc, StaleVersion):
            view = workspace().view(exc.current)
            return JSONResponse({"detail": str(exc), "current": view}, status.HTTP_409_CONFLICT,
                                headers={"ETag": f'"{view["version"]}"'})  # fmt: skip
        code = status.HTTP_404_NOT_FOUND if isinstance(exc, DocumentNotFound) else status.HTTP_422_UNPROCESSABLE_ENTITY
        if not isinstance(exc, DocumentNotFound | InvalidReview):
            code = status.HTTP_400_BAD_REQUEST
        return JSONResponse({"detail": str(exc)}, code)

    @app.get(f"/api/{API_VERSION}/openapi.json", include_in_schema=False)
    def openapi(user: Reader) -> dict[str, Any]:
        return app.openapi()

    @app.get(f"/api/{API_VERSION}/docs", include_in_schema=False)
    def docs(user: Reader) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="openapi.json", title="mathlabel review API",
            swagger_js_url="../../static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="../../static/vendor/swagger-ui/swagger-ui.css", swagger_favicon_url="data:,",
        )  # fmt: skip

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        """The review page; without a login, Airflow's login page, coming back here after."""
        return await _page(request, "index.html")

    @app.get("/health", include_in_schema=False)
    async def health_page(request: Request) -> Response:
        """The Health page (plots over the last runs), behind the same login."""
        return await _page(request, "health.html")

    @app.get("/static/{path:path}", include_in_schema=False)
    def static(path: str, user: Reader) -> FileResponse:
        file = (STATIC / path).resolve()
        if not file.is_relative_to(STATIC.resolve()) or not file.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
        media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return FileResponse(file, media_type=media, headers={"Cache-Control": "private, max-age=300"})

    return app


async def _page(request: Request, name: str) -> Response:
    """A page of ``static/``; without a login, Airflow's login page, coming back here after."""
    from plugins.mathlabel_review.auth import get_user

    try:
        user = await get_user(request, None)
    except HTTPException:
        from airflow.api_fastapi.app import get_auth_manager

        # The auth manager encodes ``next``: the page's own query (run_id=…&status=…) must survive the login.
        login = get_auth_manager().get_url_login(next_url=str(request.url))
        return RedirectResponse(login, status.HTTP_303_SEE_OTHER)
    await _check_reader(user)
    return FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})


async def _check_reader(user: Any) -> None:
    from plugins.mathlabel_review.auth import reader

    await reader(user)
