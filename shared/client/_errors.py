"""Translation of transport failures and error answers into :mod:`shared.errors` types.

Lower-level errors are mapped here, at the edge, so callers of the client only
ever see :class:`~shared.errors.ClientError` and its leaves.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import pydantic

from shared.errors import ApiError, ClientError, ConnectionFailed
from shared.protocol import ErrorBody

T = TypeVar("T")

STATUS_BY_CODE: dict[str, int] = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "invalid_transition": 409,
    "too_large": 413,
}
"""The HTTP status that goes with each stable error code (used for websocket results)."""


def connection_failed(url: str, exc: BaseException) -> ConnectionFailed:
    """A :class:`ConnectionFailed` naming ``url`` and the low-level reason."""
    reason = str(exc) or type(exc).__name__
    return ConnectionFailed(
        f"cannot reach the agent at {url}: {reason}",
        hint=f"is an agent running at {url}? Check --agent / ATR_AGENT",
    )


def api_error_from_body(status: int, body: ErrorBody) -> ApiError:
    """The :class:`ApiError` for an error body and its status."""
    return ApiError(status, body.code, body.message, hint=body.hint)


def api_error_from_response(response: httpx.Response) -> ApiError:
    """The :class:`ApiError` for an error response (also one whose body is no ``ErrorBody``)."""
    try:
        body = ErrorBody.model_validate_json(response.content)
    except pydantic.ValidationError:
        request = response.request
        return ApiError(
            response.status_code,
            f"http_{response.status_code}",
            f"the agent answered {response.status_code} {response.reason_phrase} "
            f"to {request.method} {request.url.path}",
        )
    error = api_error_from_body(response.status_code, body)
    error.retry_after = _retry_after(response.headers.get("Retry-After"))
    return error


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (its HTTP-date form is not one the agent sends)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def api_error_from_code(body: ErrorBody) -> ApiError:
    """The :class:`ApiError` for an error body that came without an HTTP status."""
    return api_error_from_body(STATUS_BY_CODE.get(body.code, 400), body)


def unreadable_answer(what: str, exc: Exception) -> ClientError:
    """The error for an answer that does not fit the protocol models."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ClientError(
        f"the agent sent {what} this client cannot read ({detail})",
        hint="the agent and this client may be different versions",
    )


def validate(adapter: pydantic.TypeAdapter[T], data: bytes | str, *, what: str) -> T:
    """Validate JSON ``data`` into the adapter's type or raise :func:`unreadable_answer`."""
    try:
        return adapter.validate_json(data)
    except pydantic.ValidationError as exc:
        raise unreadable_answer(what, exc) from exc


def validate_python(adapter: pydantic.TypeAdapter[T], data: Any, *, what: str) -> T:
    """Validate already-decoded ``data`` into the adapter's type or raise."""
    try:
        return adapter.validate_python(data)
    except pydantic.ValidationError as exc:
        raise unreadable_answer(what, exc) from exc
