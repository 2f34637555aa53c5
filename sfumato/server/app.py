"""create_app(): the FastAPI app. Its lifespan opens the Studio and starts the job worker; errors map here only."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from sfumato import __version__
from sfumato.errors import SfumatoError
from sfumato.server.a1111_routes import A1111State
from sfumato.server.a1111_img2img import router as a1111_img2img_router
from sfumato.server.a1111_routes import router as a1111_router
from sfumato.server.guard import BodyLimit, TokenGuard
from sfumato.server.limits import Limits
from sfumato.server.native_explore import router as explore_router
from sfumato.server.native_inputs import router as inputs_router
from sfumato.server.native_jobs import router as jobs_router
from sfumato.server.native_library import router as library_router
from sfumato.server.native_trainings import router as trainings_router
from sfumato.settings import Settings
from sfumato.studio import Studio


def web_folder() -> Path:
    return Path(str(resources.files("sfumato") / "web"))


def create_app(settings: Settings, *, token: str | None = None, limits: Limits | None = None,
               run_jobs: bool = True) -> FastAPI:
    """The whole server. `token` (when set) is required on every API route; `run_jobs` starts the worker."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        studio = Studio.open(settings)
        if run_jobs:
            studio.start_worker()
        app.state.studio = studio
        app.state.a1111 = A1111State(settings.default_model)
        try:
            yield
        finally:
            studio.close()

    app = FastAPI(title="sfumato", version=__version__, lifespan=lifespan,
                  description="Native API under /api, AUTOMATIC1111-compatible API under /sdapi/v1.")
    app.state.limits = limits or Limits()
    app.add_exception_handler(SfumatoError, _sfumato_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.middleware("http")(_process_time)
    app.include_router(jobs_router)
    app.include_router(library_router)
    app.include_router(a1111_router)
    app.include_router(explore_router)  # grids and walks (issue #7)
    app.include_router(a1111_img2img_router)
    app.include_router(inputs_router)
    app.include_router(trainings_router)  # training runs for the queue view (issue #8)
    folder = web_folder()
    app.mount("/static", StaticFiles(directory=folder), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(folder / "index.html")

    # Middleware added last runs first: the body limit applies before the token check reads anything.
    if token:
        app.add_middleware(TokenGuard, token=token)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, max_bytes=app.state.limits.max_body_bytes)  # type: ignore[arg-type]
    return app


async def _process_time(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    response.headers["X-Process-Time"] = f"{time.perf_counter() - started:.4f}"  # as A1111 sends
    return response


def _sfumato_error(request: Request, error: SfumatoError) -> JSONResponse:
    name = type(error).__name__
    if request.url.path.startswith("/sdapi/"):  # A1111's error body shape
        body: dict[str, object] = {"error": name, "detail": error.message, "body": "", "errors": str(error)}
    else:
        body = {"error": name, "detail": error.message, "hint": error.hint, "field": getattr(error, "field", None)}
    return JSONResponse(body, status_code=error.http_status)


def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    # FastAPI's own 422 shape (A1111 keeps it too), plus one sentence naming each field.
    details = jsonable_encoder(list(error.errors()))
    named = "; ".join(
        f"{'.'.join(str(part) for part in item['loc'] if part != 'body')}: {item['msg']}" for item in details
    )
    return JSONResponse({"detail": details, "message": named}, status_code=422)
