"""Reading how long a 429 asks us to wait: the Retry-After header, else problem+json retryAfter.

Servers and proxies send more than the spec's integer: HTTP-dates, negative numbers, garbage and
absurd values. Anything unreadable or negative reads as "no advice" (None) so the caller falls
back to its own backoff; a huge value is returned as is and the caller decides (it raises rather
than sleep for longer than `max_retry_after`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from email.utils import parsedate_to_datetime

import httpx
from dateutil import parser as date_parser

__all__ = ["retry_after_seconds"]


def retry_after_seconds(
    response: httpx.Response, *, now: dt.datetime | None = None
) -> float | None:
    """Seconds the server asked us to wait, or None when it gave no usable advice."""
    header = response.headers.get("retry-after")
    if header is not None:
        seconds = _parse_header(header, now or dt.datetime.now(dt.UTC))
        if seconds is not None:
            return seconds
    return _from_problem_body(response)


def _parse_header(value: str, now: dt.datetime) -> float | None:
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _parse_http_date(value, now)
    if math.isnan(seconds) or seconds < 0:
        return None
    return seconds


def _parse_http_date(value: str, now: dt.datetime) -> float | None:
    """An HTTP-date (RFC 9110: IMF-fixdate, or the obsolete RFC 850 and asctime forms)."""
    when: dt.datetime | None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None:
        # dateutil reads the obsolete forms the stdlib parser rejects.
        try:
            when = date_parser.parse(value)
        except (ValueError, OverflowError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # HTTP-dates are always GMT
    return max(0.0, (when - now).total_seconds())


def _from_problem_body(response: httpx.Response) -> float | None:
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        return None
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    value = body.get("retryAfter")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if math.isnan(value) or value < 0:
        return None
    return float(value)
