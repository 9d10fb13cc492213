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
import re
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = ["json_body", "retry_after_seconds"]

# delta-seconds is digits only (RFC 9110 section 10.2.3); a fraction is tolerated. A sign, an
# exponent, "_", "inf" or "nan" is not a delay, even though float() would read it.
_DELTA_SECONDS = re.compile(r"\d+(?:\.\d+)?", re.ASCII)

# The three HTTP-date forms (RFC 9110 section 5.6.7), matched before parsing: a lenient date parser
# would read "Friday", "10:30" or "5s" as a time today and turn garbage into a wait. A one-digit
# day and a numeric UTC offset, which some servers send, are tolerated. The standard library's
# email date parser reads all three (RFC 850's two-digit year as RFC 5322 says).
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"\d{2}:\d{2}:\d{2}"
_ZONE = r"(?:GMT|UTC|[+-]0000)"
_HTTP_DATE = re.compile(
    rf"{_DAY}, \d{{1,2}} {_MONTH} \d{{4}} {_TIME} {_ZONE}"  # IMF-fixdate
    rf"|{_LONG_DAY}, \d{{1,2}}-{_MONTH}-\d{{2}} {_TIME} {_ZONE}"  # obsolete RFC 850
    rf"|{_DAY} {_MONTH} [ \d]\d {_TIME} \d{{4}}",  # obsolete asctime
    re.ASCII | re.IGNORECASE,
)


# `body=` not given: the response's JSON body is read here if the header gives no advice.
_NOT_PARSED: Any = object()


def retry_after_seconds(
    response: httpx.Response, *, body: Any = _NOT_PARSED, now: dt.datetime | None = None
) -> float | None:
    """Seconds the server asked us to wait, or None when it gave no usable advice.

    `body` is the response's JSON body when the caller has parsed it already (None: not JSON).
    """
    header = response.headers.get("retry-after")
    if header is not None:
        seconds = _parse_header(header, now or dt.datetime.now(dt.UTC))
        if seconds is not None:
            return seconds
    if body is _NOT_PARSED:
        body = json_body(response)
    return _from_problem_body(body)


def _parse_header(value: str, now: dt.datetime) -> float | None:
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    if _HTTP_DATE.fullmatch(value):
        return _parse_http_date(value, now)
    return None


def _parse_http_date(value: str, now: dt.datetime) -> float | None:
    """Seconds until an HTTP-date (already matched by _HTTP_DATE); a past date means now."""
    try:
        when = parsedate_to_datetime(value)
    except (ValueError, OverflowError, TypeError):
        return None  # the right shape but no real date, such as 31 Feb
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)  # HTTP-dates are always GMT
    return max(0.0, (when - now).total_seconds())


def json_body(response: httpx.Response) -> Any:
    """The JSON body of a response that says it is JSON; None for any other or a broken one."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return None


def _from_problem_body(body: Any) -> float | None:
    value = body.get("retryAfter") if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value < 0 or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer with hundreds of digits: "a very long time"
        return math.inf
