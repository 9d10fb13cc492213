"""`python -m cortexio_sdk.testing`: serve the fake Cortex Queries API (see `--help`)."""

import sys

from ._cli import main

sys.exit(main())
