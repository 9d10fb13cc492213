"""The span, event, metric and attribute names the SDK emits: public API from 0.1 on.

README.md's "Observability" table lists every one (a test compares the two), and
scripts/api_compat.py-style care applies: a rename is a breaking change, so a new name is
added beside the old one for a deprecation period instead. HTTP attributes follow the
OpenTelemetry semantic conventions for HTTP clients; the SDK's own are under `cortex.`.
"""

from __future__ import annotations

from typing import Final

INSTRUMENTATION_SCOPE: Final = "cortexio_sdk"

# -- spans ---------------------------------------------------------------------------------------
# One per SDK call: named after the spec's operationId (createQuery, getQueryResults, ...).
# One per HTTP attempt under it: "{method} {url.template}", as the HTTP conventions name it.
WAIT_SPAN: Final = "cortex.queries.wait"

# -- events (on the call span) -------------------------------------------------------------------
RETRY_EVENT: Final = "cortex.retry"
HOLD_OFF_EVENT: Final = "cortex.hold_off"

# -- attributes ----------------------------------------------------------------------------------
HTTP_METHOD: Final = "http.request.method"
HTTP_STATUS: Final = "http.response.status_code"
RESEND_COUNT: Final = "http.request.resend_count"
URL_TEMPLATE: Final = "url.template"
URL_FULL: Final = "url.full"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
OPERATION: Final = "cortex.operation"
OUTCOME: Final = "cortex.outcome"
CORTEX_ERROR_TYPE: Final = "cortex.error_type"
REQUEST_ID: Final = "cortex.request_id"
ATTEMPTS: Final = "cortex.attempts"
LIMITER_WAIT: Final = "cortex.rate_limiter.wait"
HOLD_OFF: Final = "cortex.hold_off"
RETRY_REASON: Final = "cortex.retry.reason"
RETRY_DELAY: Final = "cortex.retry.delay"
JOB_ID: Final = "cortex.query.job_id"
QUERY_STATUS: Final = "cortex.query.status"
QUERY_TEXT: Final = "cortex.query.text"
POLLS: Final = "cortex.query.polls"
WAITED: Final = "cortex.query.waited"
LIMITER_KIND: Final = "cortex.rate_limiter.kind"

# -- metrics -------------------------------------------------------------------------------------
REQUESTS: Final = "cortex.client.requests"
RETRIES: Final = "cortex.client.retries"
LIMITER_WAIT_METRIC: Final = "cortex.client.rate_limiter.wait"
LIMITER_RATE: Final = "cortex.client.rate_limiter.rate"
LIMITER_FALLBACKS: Final = "cortex.client.rate_limiter.fallbacks"
CALL_DURATION: Final = "cortex.client.call.duration"
QUERY_DURATION: Final = "cortex.query.duration"

# -- values of cortex.outcome ---------------------------------------------------------------------
OK: Final = "ok"
FAILED: Final = "error"

# -- values of cortex.retry.reason ---------------------------------------------------------------
RATE_LIMITED: Final = "rate_limited"
SERVER_ERROR: Final = "server_error"  # a 5xx to a GET
RETRYABLE_ERROR: Final = "retryable_error"  # an error type Cortex documents as transient
CONNECTION_FAILED: Final = "connection_failed"
CONNECTION_LOST: Final = "connection_lost"
TIMED_OUT: Final = "timeout"
