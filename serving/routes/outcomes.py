"""Outcomes: what happened to sent variants, as batches, CSV exports or e-mail platform webhooks."""

from __future__ import annotations

import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Path, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from feedback.batches import find_unstorable, ingest_batch
from feedback.csv_import import import_outcomes_csv
from feedback.errors import InvalidInputError, SignatureError
from feedback.webhook_platforms import Platform, read_platform_delivery
from feedback.webhooks import WebhookReport, ingest_webhook
from serving.deps import Marketer, RuntimeDep
from serving.errors import UnauthorizedError
from serving.routes import COMMON_ERRORS
from serving.routes.feedback import batch_out
from serving.runtime import Runtime
from serving.schemas import (
    BatchOut,
    EventBatchIn,
    ImportReportOut,
    RejectedLineOut,
    RejectedRowOut,
    WebhookReportOut,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/outcomes", tags=["outcomes"], responses=COMMON_ERRORS)

_WEBHOOK_EXAMPLE = [
    {
        "email": "ann@example.com",
        "timestamp": 1733045400,
        "event": "open",
        "sg_event_id": "sg_event_id_example_1",
        "custom_args": {"variant_id": "0d6c3e9a7b4c1d8e2f3a4b5c6d7e8f90"},
    }
]


@router.post("")
def create_outcomes(body: EventBatchIn, key: Marketer, runtime: RuntimeDep) -> BatchOut:
    """Record a batch of outcome events (send, delivery, open, click, conversion, unsubscribe...).

    Contacts are named by external id and stored only as an HMAC. Bad rows are rejected with their
    index; replayed idempotency keys store nothing and report the original ids.
    """
    result = ingest_batch(
        runtime.sessions,
        "outcomes",
        key.workspace_id,
        body.events,
        atomic=body.atomic,
        limit=runtime.settings.max_batch_events,
    )
    metrics = runtime.metrics
    metrics.count_events(
        metrics.outcome_events, len(result.accepted), len(result.duplicates), len(result.rejected)
    )
    return batch_out(result, len(body.events))


def _json_form(text: str | None, field: str) -> dict[str, str] | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"is not JSON: {exc.msg}", field=field) from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInputError("must be a JSON object of strings", field=field)
    problem = find_unstorable(value, field)
    if problem is not None:
        raise InvalidInputError(problem[1], field=problem[0])
    return value


@router.post("/import")
def import_outcomes(
    key: Marketer,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="An e-mail platform's event export (CSV).")],
    mapping: Annotated[
        str,
        Form(
            max_length=5000,
            description='JSON object {"CSV column": "event field"}; fields: contact, variant_id, kind, '
            "event_time (required), revenue, idempotency_key.",
            examples=['{"Email": "contact", "Variant": "variant_id", "Event": "kind", "Time": "event_time"}'],
        ),
    ],
    event_names: Annotated[
        str | None, Form(max_length=5000, description='JSON object {"platform event": "outcome kind"}.')
    ] = None,
    time_format: Annotated[
        str | None, Form(max_length=100, description="strptime format of the times.")
    ] = None,
    timezone: Annotated[str, Form(max_length=100, description="Zone of times without one.")] = "UTC",
    delimiter: Annotated[str, Form(min_length=1, max_length=1)] = ",",
) -> ImportReportOut:
    """Import a CSV export in one transaction; the report lists the lines it rejected and why."""
    columns = _json_form(mapping, "mapping")
    if columns is None:
        raise InvalidInputError("is required", field="mapping")
    try:
        text = file.file.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInputError("is not UTF-8 text", field="file") from None
    report = import_outcomes_csv(
        runtime.sessions,
        key.workspace_id,
        io.StringIO(text, newline=""),
        columns,
        event_names=_json_form(event_names, "event_names"),
        time_format=time_format or None,
        timezone=timezone,
        delimiter=delimiter,
    )
    metrics = runtime.metrics
    metrics.count_events(metrics.outcome_events, report.accepted, report.duplicates, len(report.rejected))
    return ImportReportOut(
        rows=report.rows,
        accepted=report.accepted,
        duplicates=report.duplicates,
        rejected=[RejectedLineOut(line=r.line, column=r.column, reason=r.reason) for r in report.rejected],
        suppressed=report.suppressed,
    )


@router.post("/webhook")
def receive_webhook(
    key: Marketer,
    runtime: RuntimeDep,
    items: Annotated[
        list[dict[str, Any]],
        Body(
            description="The platform's events (SendGrid-style): event, email, timestamp, variant_id or "
            "custom_args.variant_id, and the platform's event id.",
            examples=[_WEBHOOK_EXAMPLE],
        ),
    ],
) -> WebhookReportOut:
    """Receive an e-mail platform's event webhook; answers 200 with a report even when rows are rejected.

    Platforms retry deliveries that fail, so a bad event is reported, never refused with the rest.
    Authenticate with the Bearer header or with Basic auth (`https://key:<API key>@host/...`).
    """
    report = ingest_webhook(
        runtime.sessions, key.workspace_id, items, limit=runtime.settings.max_batch_events
    )
    return _webhook_out(runtime, report)


@router.post(
    "/webhook/{platform}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {}},
                "application/x-www-form-urlencoded": {"schema": {}},
            },
        }
    },
)
async def receive_platform_webhook(
    request: Request,
    key: Marketer,
    runtime: RuntimeDep,
    platform: Annotated[Platform, Path(description="The e-mail platform that posts the delivery.")],
) -> WebhookReportOut:
    """Receive a platform's own webhook delivery: Mailchimp Transactional, Mailgun, SendGrid or Klaviyo.

    When the platform's signing key is configured, a delivery that is unsigned, wrongly signed,
    altered or signed longer ago than the tolerance is refused with 401 and nothing is stored.
    Events are reported as by `/v1/outcomes/webhook`; the platform's event id is the idempotency key.
    """
    body = await request.body()
    try:
        delivery = read_platform_delivery(
            platform, body, request.headers, url=str(request.url), keys=runtime.settings.webhook_keys()
        )
    except SignatureError as exc:
        raise UnauthorizedError(exc.message, field=exc.field) from None
    report = await run_in_threadpool(
        ingest_webhook,
        runtime.sessions,
        key.workspace_id,
        delivery.items,
        limit=runtime.settings.max_batch_events,
        event_names=delivery.event_names,
        ignored=delivery.ignored,
    )
    return _webhook_out(runtime, report)


def _webhook_out(runtime: Runtime, report: WebhookReport) -> WebhookReportOut:
    metrics = runtime.metrics
    metrics.count_events(metrics.outcome_events, report.accepted, report.duplicates, len(report.rejected))
    return WebhookReportOut(
        received=report.received,
        accepted=report.accepted,
        duplicates=report.duplicates,
        ignored=report.ignored,
        rejected=[RejectedRowOut(index=r.index, field=r.field, reason=r.reason) for r in report.rejected],
        suppressed=report.suppressed,
    )
