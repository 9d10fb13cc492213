"""`python -m cortexio_sdk.cli`: the same as the `cortex-query` command."""

from ._command import main

raise SystemExit(main())
