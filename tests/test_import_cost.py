"""What importing costs: the package and `cortex-query --help` load no HTTP stack, every public
name still resolves, and a parse pauses the garbage collector only while it runs."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading

import cortexio_sdk
import pytest
from cortex_api_client.types import collector_paused

# Modules a plain `import cortexio_sdk` (or the command line's --help) must not load.
HEAVY = ("httpx", "attrs", "dateutil", "cortex_api_client", "cortexio_sdk._client")


def _loaded_after(code: str) -> list[str]:
    check = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    return run.stdout.split()


def test_importing_the_package_loads_no_http_stack() -> None:
    assert _loaded_after("import cortexio_sdk") == []


def test_the_command_line_answers_help_without_the_client() -> None:
    code = (
        "import contextlib, io\nfrom cortexio_sdk.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['run', '--help'])"
    )
    assert _loaded_after(code) == []


def test_a_public_name_loads_what_it_needs() -> None:
    assert "httpx" in _loaded_after("from cortexio_sdk import Cortex")


@pytest.mark.parametrize("name", cortexio_sdk.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(cortexio_sdk, name) is not None
    assert name in dir(cortexio_sdk)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        cortexio_sdk.no_such_name  # noqa: B018


def test_a_parse_pauses_the_collector_and_restores_it() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested (another thread's parse): still paused
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_the_user_disabled_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_parses_in_threads_leave_the_collector_running() -> None:
    inside = threading.Barrier(8)

    def parse() -> None:
        with collector_paused():
            inside.wait(timeout=10)

    threads = [threading.Thread(target=parse) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled()


def test_a_failing_parse_restores_the_collector() -> None:
    with pytest.raises(ValueError, match="bad body"), collector_paused():
        raise ValueError("bad body")
    assert gc.isenabled()
