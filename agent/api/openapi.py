"""The OpenAPI document, with every error answer an operation gives.

FastAPI documents the 2xx answer and 422; the agent answers more, always with an
``ErrorBody``. :func:`install_openapi` adds them to each operation, from what the
agent knows about it:

* 401 and 403 from its row in :data:`agent.api.access.ACCESS` (none for ``public``), and
  the row's refinement in the operation's description;
* 404 when its path names something (``{key}``, ``{version}``, ``{sha256}`` …);
* 400, 409 and 413 for operations that take a body or write (POST, PUT, DELETE): bad
  input that passes the schema, a clash with the current state or a concurrent write,
  a body over the route's limit;
* 429 for the login challenge (rate limited);
* 422 (kept) for a body or parameter the schema refuses.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from agent.api.access import ACCESS, Who, route_key
from shared.protocol import ErrorBody

_REF = {"$ref": "#/components/schemas/ErrorBody"}
_MEANING = {
    400: "Invalid input: a value the schema allows breaks a rule (the message names it)",
    401: "No usable credentials (none, unknown, expired or revoked token)",
    403: "The role held is lower than the operation needs, or the token is limited to "
    "another project",
    404: "What the path names does not exist (or is not visible to this token)",
    409: "A clash with the current state (wrong phase, exists already, a concurrent write: retry)",
    413: "The request body is larger than this operation accepts",
    422: "The body or a parameter does not match the schema",
    429: "Too many requests of this kind; see Retry-After",
}
_WRITES = frozenset({"post", "put", "delete", "patch"})


def _statuses(method: str, path: str, rule_who: Who | None) -> list[int]:
    statuses = [422]
    if rule_who is not None and rule_who is not Who.PUBLIC:
        statuses += [401, 403]
    if "{" in path:
        statuses.append(404)
    if method in _WRITES:
        statuses += [400, 409, 413]
    if path.endswith("/auth/challenge"):
        statuses.append(429)
    if path.endswith(("/auth/login", "/auth/token")):
        statuses += [400, 401]
    return sorted(set(statuses))


def _document(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ErrorBody.model_json_schema()
    templates = {key.split(" ", 1)[1].replace(":path}", "}"): key for key in ACCESS}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            key = route_key(method.upper(), path)
            rule = ACCESS.get(key) or ACCESS.get(key.replace("}", ":path}"))
            if rule is None and path in templates:
                rule = ACCESS.get(templates[path])
            who = rule.who if rule is not None else None
            responses = operation.setdefault("responses", {})
            for status in _statuses(method, path, who):
                responses[str(status)] = {
                    "description": _MEANING[status],
                    "content": {"application/json": {"schema": _REF}},
                }
            if rule is not None:
                extra = f"**Who may call it:** {rule.who}" + (
                    f" ({rule.refined})" if rule.refined else ""
                )
                before = operation.get("description", "")
                operation["description"] = f"{before}\n\n{extra}" if before else extra
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` answer the document with its error answers (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010 - FastAPI's documented way to replace it


__all__ = ["install_openapi"]
