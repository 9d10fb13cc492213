"""What the SDK tells about its work: OpenTelemetry traces and metrics, and the CLI's tally.

`_records` holds the per-call and per-wait records the transport and the polling loop feed;
`_otel` is the only module that imports OpenTelemetry, and only once the service has (see
`_records.otel_instruments`); `_names` holds the public span, metric and attribute names.
"""

from ._records import CallRecord, QueryText, Tally, Telemetry, WaitRecord, query_text

__all__ = ["CallRecord", "QueryText", "Tally", "Telemetry", "WaitRecord", "query_text"]
