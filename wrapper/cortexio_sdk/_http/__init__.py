"""The HTTP layer, below the generated client: every request of every operation goes through it.

- `_transport`: the sync and async httpx transports, which only send, read, sleep and book slots.
- `_retry`: every decision about a request and its answers (auth, deadline, retry, backoff,
  Retry-After, hold-off), written once for both transports.
- `_retry_after`: reading a Retry-After header (seconds or HTTP-date) or problem+json field.
- `_response_errors`: the typed error for an error answer (status class, Cortex error type).
- `_deadline_io`: socket reads and writes bounded by the call's deadline.
"""
