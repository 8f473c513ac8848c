"""What the decision service accepts as a request body, and its JSON error answers.

`read_limited_body(request, limit)` reads a body of at most `limit` bytes: a `Content-Length`
above it is refused before anything is read, and a chunked body is cut off as soon as it passes
the limit (`BodyTooLarge`, answered 413). `parse_json_body(body)` parses it with orjson (the
fast path); a body orjson refuses is tried once more with the standard library, which reads
`NaN`, `Infinity` and numbers beyond a double (`1e400`), so that a payment whose amount is
not a number is answered 422 naming the field rather than 400 for the whole body. Anything
neither parser reads is `MalformedBody` (400).

Every error of the service is `{"error", "field", "reason"}` (`error_response`).

>>> parse_json_body(b'{"amount_minor": 12}')
{'amount_minor': 12}
>>> parse_json_body(b'{"amount_minor": NaN}')
{'amount_minor': nan}
>>> parse_json_body(b'{"amount_minor": ')
Traceback (most recent call last):
...
scoring.service_limits.MalformedBody: the body is not valid JSON: unexpected end of data: line 1 column 18 (char 17)
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "BodyTooLarge",
    "MalformedBody",
    "error_body",
    "error_response",
    "parse_json_body",
    "read_limited_body",
]

#: The default largest decision request body: a payment is ~0.5 KiB, 64 candidate gateways ~2 KiB.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """A request body over the service's limit (answered 413)."""

    def __init__(self, limit: int, size: int | None):
        self.limit, self.size = limit, size
        got = f"{size} bytes" if size is not None else f"more than {limit} bytes"
        super().__init__(f"the body is {got}; this service accepts at most {limit} bytes per request "
                         "(send one payment per request; start the service with a larger --max-body-bytes if needed)")


class MalformedBody(Exception):
    """A request body that is not JSON (answered 400); the message says where it broke."""


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request's body, refusing (BodyTooLarge) one over `limit` bytes without reading it whole."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise MalformedBody(f"the Content-Length header {declared!r} is not a number of bytes") from None
        if size > limit:
            raise BodyTooLarge(limit, size)
        body = await request.body()
        if len(body) > limit:  # the server reads what the header declared; kept as a guard
            raise BodyTooLarge(limit, len(body))
        return body
    chunks, received = [], 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit, None)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_body(body: bytes) -> Any:
    """The JSON value of `body` (orjson; the standard library for NaN, Infinity and 1e400)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # JSONDecodeError, bad UTF-8, integers of over 4,300 digits
            raise MalformedBody(f"the body is not valid JSON: {error}") from None


def error_body(error: str, reason: str, field: str | None = None) -> dict[str, Any]:
    """The service's error object."""
    return {"error": error, "field": field, "reason": reason}


def error_response(status: int, error: str, reason: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """An error answer `{"error", "field", "reason"}` with `status`."""
    return Response(orjson.dumps(error_body(error, reason, field)), status_code=status,
                    media_type="application/json", headers=headers)
