"""The HTTP layer of ``move serve``: :func:`create_app` builds the ASGI application.

Routes (``docs/serve.md``): ``GET /`` the page and ``/static/*`` its script and style;
``GET /api/model``, ``GET /api/latent``, ``POST /api/transfer``, ``POST /api/synth``,
``POST /api/point``, ``GET /api/jobs/{id}`` and ``GET /files/{id}/{name}``.

Every problem with a request is answered with a 4xx status and a JSON body
``{"error": "<one line>"}``: :class:`move.errors.MoveError` subclasses map to 400 (a file
that is not audio, malformed JSON), 413 (over the size or duration limit), 422 (an unknown
instrument, a bad note or option), 404 (an unknown job or file), 503 (too many waiting
jobs); anything else is logged and answered with a one-line 500, and the server serves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from move.errors import AudioError, CheckpointError, ConfigError, LabelError, MoveError
from move.serve import work
from move.serve.jobs import BusyError, Job, JobStore

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("move.serve")
#: Bytes of multipart overhead allowed beyond ``max_upload_mb`` (field names, a MIDI file).
FORM_SLACK = 1 << 20
_CHUNK = 1 << 16


class RequestError(MoveError):
    """A malformed request (not multipart, a missing field, malformed JSON): HTTP 400."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def status_of(exc: BaseException) -> int:
    """The HTTP status of an error raised while answering a request."""
    if isinstance(exc, RequestError):
        return exc.status
    if isinstance(exc, work.LimitError):
        return 413
    if isinstance(exc, BusyError):
        return 503
    if isinstance(exc, (LabelError, ConfigError)):
        return 422
    if isinstance(exc, (AudioError, CheckpointError, MoveError)):
        return 400
    return 500


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line[:limit] or "error"


class _Server:
    """The state shared by the routes: the model, the job store, the limits."""

    def __init__(self, model_path: str | Path | None, data: str | Path | None, max_upload_mb: float,
                 max_seconds: float, workers: int, keep: int, ttl_s: float) -> None:
        from move.transfer import DEFAULT_MODEL, load_model

        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        self.model = load_model(self.model_path)
        self.data = data
        self.max_bytes = int(max_upload_mb * 1024 * 1024)
        self.max_seconds = float(max_seconds)
        self.store = JobStore(workers, keep=keep, ttl_s=ttl_s)
        self.card = work.model_card(self.model, self.model_path)
        self.card["limits"] = {"max_upload_mb": max_upload_mb, "max_seconds": max_seconds, "workers": workers}
        self._latent: asyncio.Future | None = None

    def scrub(self, text: str) -> str:
        """``text`` without the server's temp folders (messages name files by their own names)."""
        return re.sub(re.escape(str(self.store.root)) + r"/[0-9a-f]+/(in/)?", "", text)

    def urls(self, job: Job, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` with its file names turned into URLs and its messages scrubbed."""
        out = dict(result)
        out["outputs"] = [{**o, **{k: (f"/files/{job.id}/{quote(o[k])}" if o.get(k) else None)
                                   for k in ("audio", "image")}} for o in result["outputs"]]
        out["messages"] = [self.scrub(m) for m in result.get("messages", [])]
        if "identified" in out:
            out["identified"] = {**out["identified"], "message": self.scrub(out["identified"]["message"])}
        out["job"] = job.id
        return out

    async def latent(self) -> dict[str, Any]:
        """The latent scatter, computed once (on the pool) and kept."""
        if self._latent is None:
            loop = asyncio.get_running_loop()
            self._latent = loop.run_in_executor(None, work.latent_points, self.model, self.data)
        return await asyncio.shield(self._latent)

    def job_status(self, job: Job) -> dict[str, Any]:
        """What ``GET /api/jobs/{id}`` answers."""
        body: dict[str, Any] = {"job": job.id, "state": job.state, "elapsed": round(job.elapsed(), 2)}
        if job.state == "done" and job.result is not None:
            body["result"] = self.urls(job, job.result)
        elif job.state == "error" and job.error is not None:
            body["error"] = self.scrub(_one_line(str(job.error)))
            body["status"] = status_of(job.error)
        return body

    async def run(self, job: Job, compute: Callable[[Job], dict[str, Any]], wait: bool = True) -> JSONResponse:
        """Run ``compute`` on the pool: its answer (``wait``), or 202 with the job to poll."""
        future = self.store.submit(job, compute)
        if not wait:
            return JSONResponse({"job": job.id, "state": job.state, "poll": f"/api/jobs/{job.id}"}, status_code=202)
        result = await asyncio.wrap_future(future)
        return JSONResponse(self.urls(job, result))


def _error_response(server: _Server | None, exc: BaseException) -> JSONResponse:
    status = status_of(exc)
    message = _one_line(str(exc))
    if server is not None:
        message = server.scrub(message)
    if status == 500:
        log.exception("move serve: unexpected error", exc_info=exc)
        message = f"internal error ({type(exc).__name__}); the server logged it"
    return JSONResponse({"error": message}, status_code=status)


# --------------------------------------------------------------------- uploads
async def _save_upload(upload: Any, dest: Path, limit: int, what: str) -> Path:
    """Copy an uploaded file to ``dest`` chunk by chunk, refusing more than ``limit`` bytes."""
    size = 0
    with open(dest, "wb") as out:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise work.LimitError(f"{what}: over this server's upload limit of {limit / 1048576:g} MB")
            out.write(chunk)
    if size == 0:
        raise AudioError(f"{what}: empty file")
    return dest


def _text_field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    raise RequestError(f"{name}: expected text, got a file")


async def _transfer_request(server: _Server, request: Request, job: Job) -> tuple[Callable[[Job], dict], bool]:
    """Validate ``POST /api/transfer`` and save its uploads into the job's folder."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise RequestError("POST /api/transfer takes multipart/form-data with a 'file' field")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > server.max_bytes + FORM_SLACK:
        raise work.LimitError(f"upload of {int(length) / 1048576:.1f} MB is over this server's limit of "
                              f"{server.max_bytes / 1048576:g} MB")
    try:
        form = await request.form(max_files=2, max_fields=16)
    except StarletteHTTPException as exc:
        raise RequestError(f"malformed form: {exc.detail}") from None
    upload, midi = form.get("file"), form.get("midi")
    if upload is None or isinstance(upload, str):
        raise RequestError("no 'file' field: upload the recording to transfer as 'file'")
    targets = [t.strip() for t in (_text_field(form, "targets") or "").split(",") if t.strip()]
    if not targets:
        raise LabelError(f"targets: give one or more of {', '.join(server.model.instruments)}, comma-separated")
    canonical = [server.model.instrument(t) for t in targets]
    source = _text_field(form, "source")
    if source is not None and source.lower() != "auto":
        source = server.model.instrument(source)
    pitch = _text_field(form, "pitch")
    if pitch is not None and pitch.lower() in ("tracked", "auto"):
        pitch = None
    if pitch is not None:
        work._note(pitch)
    name = work.safe_name(upload.filename)
    path = await _save_upload(upload, job.folder / "in" / name, server.max_bytes, name)
    work.check_audio(path, server.max_seconds, work.min_seconds(server.model))
    midi_path = None
    if midi is not None and not isinstance(midi, str):
        midi_name = work.safe_name(midi.filename, "pitch.mid")
        if Path(midi_name).suffix.lower() not in (".mid", ".midi"):
            raise AudioError(f"{midi_name}: the pitch file must be a MIDI file (.mid)")
        midi_path = await _save_upload(midi, job.folder / "in" / midi_name, FORM_SLACK, midi_name)
    wait = (_text_field(form, "wait") or "1").lower() not in ("0", "false", "no")

    def compute(j: Job) -> dict[str, Any]:
        return work.run_transfer(server.model, j.folder, path, canonical, source=source, pitch=pitch,
                                 midi=midi_path)

    return compute, wait


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > FORM_SLACK:
        raise work.LimitError("JSON body over 1 MB")
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError("malformed JSON: expected an object like {\"instrument\": \"Flute\", ...}")
    return body


# --------------------------------------------------------------------- the app
def _add_compute_routes(app: FastAPI, server: _Server) -> None:
    """The routes that compute (transfer, synth, point), each as a job on ``server``'s pool."""

    async def guarded(make: Callable[[Job], Any]) -> JSONResponse:
        """Answer one computing request: a job, its validation, its work, its errors."""
        try:
            job = server.store.new_job()
        except MoveError as exc:
            return _error_response(server, exc)
        try:
            compute, wait = await make(job)
        except Exception as exc:
            server.store.discard(job)
            return _error_response(server, exc)
        try:
            return await server.run(job, compute, wait)
        except Exception as exc:
            return _error_response(server, exc)

    @app.post("/api/transfer")
    async def transfer(request: Request) -> JSONResponse:
        return await guarded(lambda job: _transfer_request(server, request, job))

    @app.post("/api/synth")
    async def synth(request: Request) -> JSONResponse:
        async def make(job: Job):
            body = await _json_body(request)
            return (lambda j: work.run_synth(server.model, j.folder, body)), bool(body.pop("wait", True))

        return await guarded(make)

    @app.post("/api/point")
    async def point(request: Request) -> JSONResponse:
        async def make(job: Job):
            body = await _json_body(request)
            unknown = sorted(set(body) - {"instrument", "note", "z", "duration"})
            if unknown:
                raise ConfigError(f"point: unknown field(s) {', '.join(unknown)}")
            return (lambda j: work.run_point(server.model, j.folder, **body)), True

        return await guarded(make)



def _add_read_routes(app: FastAPI, server: _Server) -> None:
    """The routes that read: the page, the model card, the scatter, jobs and their files."""

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/model")
    async def model_card() -> JSONResponse:
        return JSONResponse(server.card)

    @app.get("/api/latent")
    async def latent() -> JSONResponse:
        try:
            return JSONResponse(await server.latent())
        except Exception as exc:
            server._latent = None
            return _error_response(server, exc)

    @app.get("/api/jobs/{job_id}")
    async def job_status(job_id: str) -> JSONResponse:
        job = server.store.get(job_id)
        if job is None:
            return JSONResponse({"error": f"no job {job_id[:40]!r} (unknown, or expired)"}, status_code=404)
        return JSONResponse(server.job_status(job))

    @app.get("/files/{job_id}/{name}")
    async def files(job_id: str, name: str) -> Any:
        path = server.store.file(job_id, name)
        if path is None or path.suffix.lower() not in (".wav", ".png", ".gif", ".json"):
            return JSONResponse({"error": f"no file {name[:80]!r} for job {job_id[:40]!r} (unknown, or expired)"},
                                status_code=404)
        return FileResponse(path)


def create_app(model_path: str | Path | None = None, *, data: str | Path | None = None,
               max_upload_mb: float = 50.0, max_seconds: float = 600.0, workers: int = 2,
               keep: int = 64, ttl_s: float = 1800.0) -> FastAPI:
    """The ASGI application of ``move serve``.

    Parameters
    ----------
    model_path : path-like, optional
        Model file (default: the shipped default model); loaded once, here.
    data : path-like, optional
        A prepared dataset whose held-out test notes are drawn behind the latent pad
        (default: the example notes shipped with move).
    max_upload_mb : float
        Largest upload, in MiB (413 above it).
    max_seconds : float
        Longest recording, in seconds (413 above it).
    workers : int
        Requests computed at once (a thread pool); more wait, up to 32, then 503.
    keep, ttl_s : int, float
        Results are kept for the newest ``keep`` jobs and at most ``ttl_s`` seconds; all of
        them are removed when the application shuts down.

    Returns
    -------
    FastAPI
        Serve it with uvicorn (``move serve``) or test it with ``fastapi.testclient.TestClient``.
    """
    server = _Server(model_path, data, max_upload_mb, max_seconds, workers, keep, ttl_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            server.store.close()

    app = FastAPI(title="move serve", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.server = server

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": _one_line(str(exc.detail))}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _one_line(str(exc.errors()[:1]))}, status_code=422)

    @app.exception_handler(Exception)
    async def any_error(request: Request, exc: Exception) -> JSONResponse:
        return _error_response(server, exc)

    _add_compute_routes(app, server)
    _add_read_routes(app, server)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
