"""What a user meets first: documented constructors, importable names, readable models."""

from __future__ import annotations

import inspect
import pydoc
from pathlib import Path

import cortexio_sdk
import pytest
import yaml
from cortex_api_client.types import UNSET
from cortexio_sdk import AsyncCortex, Cortex, QueryResult
from cortexio_sdk.testing import FakeCortex

SPEC = Path(__file__).resolve().parent.parent / "openapi.yaml"


@pytest.mark.parametrize("client_class", [Cortex, AsyncCortex])
def test_each_client_documents_every_argument_itself(client_class: type) -> None:
    # The class's own docstring (what an IDE shows on hover), not a private base's.
    own = client_class.__dict__["__doc__"]
    for name in inspect.signature(client_class).parameters:
        assert f"`{name}`" in own, f"{client_class.__name__}'s docstring does not explain {name}"
    assert "_Base" not in own
    assert "`rate_limiter`" in pydoc.render_doc(client_class)


def test_what_as_completed_yields_can_be_imported() -> None:
    assert "Completed" in cortexio_sdk.__all__
    error = cortexio_sdk.QueryFailedError("ended FAILURE", job_id="job-1", state=None)
    outcome = cortexio_sdk.Completed(job_id="job-1", error=error)
    with pytest.raises(cortexio_sdk.QueryFailedError):
        outcome.unwrap()


def test_an_entity_reads_naturally() -> None:
    entity = QueryResult.from_dict({"name": "Payments API", "tag": "payments-api", "type": "svc"})

    assert entity.type == "svc"  # the spec's name, not type_
    assert entity.description is UNSET
    assert not entity.description  # falsy: `entity.description or ""` reads as expected
    assert repr(entity.description) == str(entity.description) == "UNSET"
    assert "description=UNSET" in repr(entity)


def test_the_fake_says_base_url_like_everything_else() -> None:
    with FakeCortex() as fake, fake.client() as client:
        assert fake.base_url == client.base_url == fake.env["CORTEX_BASE_URL"]
        assert not hasattr(fake, "url")


def test_the_spec_lists_the_servers_cortex_publishes_and_the_default_is_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CORTEX_BASE_URL", raising=False)
    spec = yaml.safe_load(SPEC.read_text())
    servers = [server["url"] for server in spec["servers"]]
    assert servers == ["https://api.getcortexapp.com", "https://api.eu.cortex.io", "{baseUrl}"]
    assert spec["servers"][2]["variables"]["baseUrl"]["default"].startswith("https://")
    with Cortex(api_key="k") as us, Cortex(api_key="k", base_url=servers[1]) as eu:
        assert (us.base_url, eu.base_url) == tuple(servers[:2])
