"""One place that turns errors into ``ErrorBody`` responses with the right HTTP status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.blobs import BlobNotFound, BlobTooLarge
from agent.distribute.channels.base import ChannelError
from agent.store import Conflict, Forbidden, NotFound, NotReady, RateLimited, Unauthenticated
from agent.tmparea import TempAreaFull
from agent.triggers.common import Unavailable
from shared.errors import AtrError, OpenPGPError, TransitionError, ValidationError
from shared.protocol import ErrorBody


class BodyTooLarge(StarletteHTTPException):
    """A request body over its route's limit (413). An HTTP exception, so that the framework's
    body reading passes it on unchanged (it turns other errors into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than this endpoint accepts ({limit:,} bytes)"
        )
        self.hint = (
            "send less; the agent's operator sets the limits (max_json_bytes, "
            "max_mail_import_bytes, max_upload_bytes)"
        )


# Most specific first: the first class an error is an instance of decides.
STATUS_BY_ERROR: tuple[tuple[type[AtrError], int, str], ...] = (
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (BlobNotFound, 404, "not_found"),
    (TransitionError, 409, "invalid_transition"),
    (Conflict, 409, "conflict"),
    (BlobTooLarge, 413, "too_large"),
    (RateLimited, 429, "too_many_requests"),
    (TempAreaFull, 503, "unavailable"),
    (Unavailable, 503, "unavailable"),
    (ValidationError, 400, "invalid"),
    (ChannelError, 400, "invalid"),
    (OpenPGPError, 400, "invalid"),
)

_CODE_BY_STATUS = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}


def error_status(exc: AtrError) -> tuple[int, ErrorBody]:
    """The HTTP status and body for ``exc`` (500 ``internal`` for an unexpected kind)."""
    for cls, status, code in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status, ErrorBody(code=code, message=exc.message, hint=exc.hint)
    return 500, ErrorBody(code="internal", message=exc.message, hint=exc.hint)


def body_too_large(exc: BodyTooLarge) -> JSONResponse:
    """The JSON response for a body over its limit (also for middleware, before any route)."""
    return _response(413, ErrorBody(code="too_large", message=str(exc.detail), hint=exc.hint))


def _response(status: int, body: ErrorBody) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


async def _atr_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, AtrError):  # pragma: no cover - registered for AtrError only
        raise exc
    response = _response(*error_status(exc))
    if isinstance(exc, RateLimited | NotReady):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    body = ErrorBody(
        code="invalid",
        message="invalid request: " + "; ".join(problems),
        hint="see the API description at /docs",
    )
    return _response(422, body)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        raise exc
    if isinstance(exc, BodyTooLarge):
        return body_too_large(exc)
    code = _CODE_BY_STATUS.get(exc.status_code, "error")
    return _response(exc.status_code, ErrorBody(code=code, message=str(exc.detail)))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that map every error to an ``ErrorBody``."""
    app.add_exception_handler(AtrError, _atr_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
