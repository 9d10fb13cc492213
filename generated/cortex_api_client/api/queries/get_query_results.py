from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.query_builder_result import QueryBuilderResult
from ...models.too_many_requests_problem_detail import TooManyRequestsProblemDetail
from ...types import (
    PARSE_ERRORS,
    Response,
    collector_paused,
    http_status,
    path_segment,
    under_base_url,
)


def _get_kwargs(
    job_id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": f"/api/v1/queries/{path_segment(job_id)}",
        "extensions": {
            "cortex_operation": "getQueryResults",
            "cortex_url_template": "/api/v1/queries/{jobId}",
        },
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail | None:
    if response.status_code == 200:
        response_200 = QueryBuilderResult.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

    if response.status_code == 429:
        response_429 = TooManyRequestsProblemDetail.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail]:
    try:
        with collector_paused(len(response.content)):
            parsed = _parse_response(client=client, response=response)
    except errors.UnexpectedStatus:
        raise
    except PARSE_ERRORS as exc:
        raise errors.MalformedResponse(response.status_code, response.content) from exc
    return Response(
        status_code=http_status(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=parsed,
    )


def sync_detailed(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail]:
    """Retrieve query results

     Retrieve the status and results of a CQL query

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail]
    """

    kwargs = _get_kwargs(
        job_id=job_id,
    )

    httpx_client = client.get_httpx_client()
    kwargs["url"] = under_base_url(httpx_client.base_url, kwargs["url"])
    response = httpx_client.request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail | None:
    """Retrieve query results

     Retrieve the status and results of a CQL query

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail
    """

    return sync_detailed(
        job_id=job_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail]:
    """Retrieve query results

     Retrieve the status and results of a CQL query

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail]
    """

    kwargs = _get_kwargs(
        job_id=job_id,
    )

    httpx_client = client.get_async_httpx_client()
    kwargs["url"] = under_base_url(httpx_client.base_url, kwargs["url"])
    response = await httpx_client.request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail | None:
    """Retrieve query results

     Retrieve the status and results of a CQL query

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | QueryBuilderResult | TooManyRequestsProblemDetail
    """

    return (
        await asyncio_detailed(
            job_id=job_id,
            client=client,
        )
    ).parsed
