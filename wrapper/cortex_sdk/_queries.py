"""`client.queries`: the Queries operations, sync and async, around the generated functions."""

from __future__ import annotations

from cortex_api_client import AuthenticatedClient
from cortex_api_client.api.queries import create_query, get_query_results
from cortex_api_client.models import QueryBuilderResult, QueryRequest, QueryResponse

from ._operations import check_job_id, check_query, expect, translated_errors

__all__ = ["AsyncQueries", "Queries"]


class Queries:
    """Run CQL queries as jobs and read their results."""

    def __init__(self, low_level: AuthenticatedClient) -> None:
        self._client = low_level

    def run(self, query: str) -> QueryResponse:
        """Start a CQL query job (POST /api/v1/queries); returns its job id and start time."""
        body = QueryRequest(query=check_query(query))
        with translated_errors():
            response = create_query.sync_detailed(client=self._client, body=body)
        return expect(response, QueryResponse)

    def get(self, job_id: str) -> QueryBuilderResult:
        """The job's state once (GET /api/v1/queries/{jobId}): status, progress, entities."""
        job_id = check_job_id(job_id)
        with translated_errors():
            response = get_query_results.sync_detailed(job_id, client=self._client)
        return expect(response, QueryBuilderResult)


class AsyncQueries:
    """Run CQL queries as jobs and read their results, as coroutines."""

    def __init__(self, low_level: AuthenticatedClient) -> None:
        self._client = low_level

    async def run(self, query: str) -> QueryResponse:
        """Start a CQL query job (POST /api/v1/queries); returns its job id and start time."""
        body = QueryRequest(query=check_query(query))
        with translated_errors():
            response = await create_query.asyncio_detailed(client=self._client, body=body)
        return expect(response, QueryResponse)

    async def get(self, job_id: str) -> QueryBuilderResult:
        """The job's state once (GET /api/v1/queries/{jobId}): status, progress, entities."""
        job_id = check_job_id(job_id)
        with translated_errors():
            response = await get_query_results.asyncio_detailed(job_id, client=self._client)
        return expect(response, QueryBuilderResult)
