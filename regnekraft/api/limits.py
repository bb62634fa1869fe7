"""Request body bounds. Every request body is bounded by Django's DATA_UPLOAD_MAX_MEMORY_SIZE
(its default, 2.5 MB); the usage import reads its body itself, with a bound that fits the
100,000 records its serializer accepts, and answers a larger body with 413 in JSON."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, UnsupportedMediaType
from rest_framework.parsers import JSONParser

USAGE_IMPORT_MAX_RECORDS = 100_000
# 100,000 records of up to 670 bytes of JSON each: a record with every field at its longest is
# about 600 (tests/api/test_bad_input.py); a usual one from sacct about 250.
USAGE_IMPORT_MAX_BYTES = 64 * 1024 * 1024


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"
    default_code = "payload_too_large"


def usage_import_limit() -> int:
    """The bound in bytes (Django setting REGNEKRAFT_USAGE_IMPORT_MAX_BYTES, else 64 MiB)."""
    return int(getattr(settings, "REGNEKRAFT_USAGE_IMPORT_MAX_BYTES", USAGE_IMPORT_MAX_BYTES))


def usage_import_body(request) -> Any:
    """The usage import's JSON body, read with the import's own bound instead of
    DATA_UPLOAD_MAX_MEMORY_SIZE; a larger body is refused before it is read (by its
    Content-Length) or as soon as it passes the bound."""
    limit = usage_import_limit()
    too_large = PayloadTooLarge(
        f"the request body is larger than {limit:,} bytes, the most /api/usage/import/ takes "
        f"(up to {USAGE_IMPORT_MAX_RECORDS:,} records): send the records in several requests, "
        "or import a file with `regnekraft import-usage`"
    )
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise too_large
    media_type = (request.content_type or "").split(";")[0].strip()
    if media_type != "application/json":
        raise UnsupportedMediaType(media_type or "(none)")
    stream = request.stream
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise too_large
    return JSONParser().parse(io.BytesIO(raw), media_type, {"request": request})
