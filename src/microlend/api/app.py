"""The FastAPI application: routers under /v1, OpenAPI at /openapi.json, docs at /docs."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from microlend import __version__
from microlend.api.errors import install_error_handlers
from microlend.api.routers import (
    applications,
    cob,
    collections,
    credit_lines,
    customers,
    loans,
    misc,
    models,
    products,
    reviews,
    rule_sets,
    verification,
)
from microlend.security.masking import install_log_redaction
from microlend.services.platform import Platform

DESCRIPTION = """
Microlend: online micro-lending with risk control built in.

Authenticate with `Authorization: Bearer <api key>` (or `X-API-Key`). Money is
sent and returned as decimal strings. Errors are `{"error": {"code", "message",
"field"}}`. POSTs that move money (drawdowns, repayments) accept an
`Idempotency-Key` header: a retry with the same key returns the first result and
moves nothing.
"""


def create_app(platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform.build()
    # A root handler for the platform's own loggers (uvicorn configures only its own), then
    # redaction on every handler, so no ID number, phone or card reaches a log in clear.
    logging.basicConfig(level=platform.settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    install_log_redaction(logging.getLogger("uvicorn.error"))
    install_log_redaction(logging.getLogger("uvicorn.access"))
    app = FastAPI(title="Microlend", version=__version__, description=DESCRIPTION,
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.platform = platform
    install_error_handlers(app)
    for module in (misc, customers, products, credit_lines, loans, collections, cob, models, applications, reviews,
                   rule_sets, verification):
        app.include_router(module.router)
    return app
