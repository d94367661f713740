"""Every error leaves the API as ``{"error": {"code", "message", "field"}}``.

Domain errors map to HTTP statuses here, once. Validation errors name the
first offending field; anything unexpected is logged and answered with a
generic 500 body (no traceback, no internals).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from microlend.errors import (
    AuthenticationError,
    BusinessRuleError,
    ConflictError,
    ExternalServiceError,
    MicrolendError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)

log = logging.getLogger("microlend.api")

STATUS_BY_ERROR: list[tuple[type[MicrolendError], int]] = [
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
    (BusinessRuleError, 422),
    (ExternalServiceError, 502),
]

_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 406: "not_acceptable",
               413: "payload_too_large", 415: "unsupported_media_type"}


def error_body(code: str, message: str, field: str | None = None, **extra) -> dict:
    return {"error": {"code": code, "message": message, "field": field, **extra}}


def status_for(exc: MicrolendError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


def _field_from_loc(loc: tuple) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MicrolendError)
    async def _domain(request: Request, exc: MicrolendError):
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
        return JSONResponse(error_body(exc.code, exc.message, exc.field, **exc.extra), status_code=status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"type": "invalid", "loc": (), "msg": "invalid request"}
        kind = first.get("type", "invalid")
        if kind == "json_invalid":
            return JSONResponse(error_body("malformed_json", "the request body is not valid JSON", None), status_code=400)
        field = _field_from_loc(tuple(first.get("loc", ())))
        if kind == "missing":
            code = "missing_field"
        elif kind == "extra_forbidden":
            code = "unknown_field"
        elif kind in ("model_attributes_type", "dict_type") and not field:
            return JSONResponse(error_body("invalid_body", "the request body must be a JSON object", None), status_code=422)
        elif "_" in kind and kind.startswith("invalid_"):
            code = kind
        else:
            code = "invalid_field"
        message = str(first.get("msg", "invalid value"))
        details = [{"field": _field_from_loc(tuple(e.get("loc", ()))), "message": str(e.get("msg"))} for e in errors[1:5]]
        body = error_body(code, f"{field}: {message}" if field else message, field)
        if details:
            body["error"]["more"] = details
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's answer to a body it cannot even decode (not UTF-8)
            return JSONResponse(error_body("malformed_json", "the request body is not valid JSON", None), status_code=400)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(error_body(code, message, None), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "an unexpected error occurred; it has been logged", None), status_code=500)
