"""`cortex-query`, the command line: `main()` is its entry point (`python -m cortexio_sdk.cli`).

- `_command`: the parser, the commands and their exit codes.
- `_output`: results and job states as table, json, jsonl or csv.
- `_progress`: the progress bar on a terminal, plain lines when piped.
"""

from ._command import EXIT_CODES, main

__all__ = ["EXIT_CODES", "main"]
