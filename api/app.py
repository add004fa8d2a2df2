"""The FastAPI application: ``create_app(backend, tokens)``. OpenAPI at ``/openapi.json``, docs at ``/docs``,
the dashboard at ``/dashboard``. ``mentorflow api`` (workers/cli/api.py) builds the live backend and serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path
from temporalio.converter import PayloadCodec

from api.auth import TokenBook
from api.backend import Backend
from api.body_limit import BodyLimit
from api.deps import check_query
from api.errors import install_error_handlers
from api.routes import codec as codec_routes
from api.routes import dashboard, programs, relationships, reports
from api.routes import privacy as privacy_routes
from api.tracing import TraceRequests
from service.privacy import PrivacyService

__all__ = ["create_app"]

DESCRIPTION = """
The mentorflow HTTP API: the operations of the `mentorflow` CLI over HTTP.

**Authentication.** `Authorization: Bearer <token>`; tokens are configured in `MENTORFLOW_API__TOKENS`
(a JSON object token → role: `platform:<name>`, `manager:<name>`, `auditor:<name>`, `participant:<person id>`;
at least 24 characters each — the API does not start with a shorter or an example token).

| role | may |
|---|---|
| platform | everything; commands on behalf of an actor named in the body |
| manager | propose; terminate, resolve-separation, log-meeting (backfill), pause, resume; every read |
| participant | self-match and the participant's commands as themself, on their own relationships; their reads |
| auditor | reads only: show, list, history, state at an instant, verify, reports, dashboard |

**Codec server** (only with a payload codec key, docs/privacy.md): `POST /codec/decode` (platform, auditor) and
`POST /codec/encode` (platform), the Temporal UI's codec endpoint protocol.

**Errors** are `{"error": {"type", "message", "field"}}`: 401 no/unknown token, 403 role, 404 unknown relationship,
409 the command conflicts with the stage (`IllegalTransition`, `RelationshipClosedError`), 422 invalid input or a
command refused as such (`InvalidCommand`, `NotAParticipant`, `NotAllowedForRole`, `ValidationError` with `field`),
413 a body over 1 MiB, 429 too many verifications, 503 a backing service is down (or a verification ran out of
time), 500 a bug: `"internal error"` with an `error_id` that is also in the server log (never the exception's text).
`message` is the rule that was broken.
"""


def create_app(
    backend: Backend,
    tokens: Mapping[str, str],
    *,
    title: str = "mentorflow",
    privacy: PrivacyService | None = None,
    codec: PayloadCodec | None = None,
    codec_origins: Sequence[str] = codec_routes.DEFAULT_UI_ORIGINS,
    codec_local_ui: bool = False,
) -> FastAPI:
    """The API over ``backend``; ``codec`` (the deployment's payload codec) turns on ``/codec/…`` for the Temporal
    UI at ``codec_origins`` (api/routes/codec.py); ``codec_local_ui`` lets that UI decode without a token from a
    loopback address (a developer's machine: the dev server's UI has no login)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.close()
            if privacy is not None:
                privacy.close()

    # /docs is served from the swagger-ui-bundle wheel: FastAPI's default page loads Swagger UI from a CDN, which is
    # a blank page on a machine without internet (ours, and many a platform engineer's).
    app = FastAPI(
        title=title,
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        dependencies=[Depends(check_query)],
    )
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")
    app.state.backend = backend
    app.state.privacy = privacy  # /privacy/… answers 503 without it
    app.state.tokens = TokenBook(tokens)
    app.state.codec = codec  # /codec/… answers 404 without it
    app.state.codec_origins = tuple(codec_origins)
    app.state.codec_local_ui = codec_local_ui
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    if codec is not None:
        app.add_middleware(codec_routes.CodecCors, origins=tuple(codec_origins))
    app.add_middleware(TraceRequests)  # outermost: the span covers the body limit and the route
    app.include_router(relationships.router)
    app.include_router(reports.router)
    app.include_router(programs.router)
    app.include_router(dashboard.router)
    app.include_router(privacy_routes.router)
    app.include_router(codec_routes.router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title} — API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    @app.get("/healthz", tags=["meta"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
