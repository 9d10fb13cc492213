from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.query_request import QueryRequest
from ...models.query_response import QueryResponse
from ...models.too_many_requests_problem_detail import TooManyRequestsProblemDetail
from ...types import (
    PARSE_ERRORS,
    Response,
    collector_paused,
    http_status,
    under_base_url,
)


def _get_kwargs(
    *,
    body: QueryRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/api/v1/queries",
        "extensions": {
            "cortex_operation": "createQuery",
            "cortex_url_template": "/api/v1/queries",
        },
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | QueryResponse | TooManyRequestsProblemDetail | None:
    if response.status_code == 200:
        response_200 = QueryResponse.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 409:
        response_409 = ErrorResponse.from_dict(response.json())

        return response_409

    if response.status_code == 429:
        response_429 = TooManyRequestsProblemDetail.from_dict(response.json())

        return response_429

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | QueryResponse | TooManyRequestsProblemDetail]:
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
    *,
    client: AuthenticatedClient | Client,
    body: QueryRequest,
) -> Response[ErrorResponse | QueryResponse | TooManyRequestsProblemDetail]:
    """Run query

     Run a CQL query as an asynchronous job. The answer carries the job id to poll with "Retrieve query
    results". The same CQL cannot run twice at once (409).

    Args:
        body (QueryRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | QueryResponse | TooManyRequestsProblemDetail]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    httpx_client = client.get_httpx_client()
    kwargs["url"] = under_base_url(httpx_client.base_url, kwargs["url"])
    response = httpx_client.request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: QueryRequest,
) -> ErrorResponse | QueryResponse | TooManyRequestsProblemDetail | None:
    """Run query

     Run a CQL query as an asynchronous job. The answer carries the job id to poll with "Retrieve query
    results". The same CQL cannot run twice at once (409).

    Args:
        body (QueryRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | QueryResponse | TooManyRequestsProblemDetail
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: QueryRequest,
) -> Response[ErrorResponse | QueryResponse | TooManyRequestsProblemDetail]:
    """Run query

     Run a CQL query as an asynchronous job. The answer carries the job id to poll with "Retrieve query
    results". The same CQL cannot run twice at once (409).

    Args:
        body (QueryRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | QueryResponse | TooManyRequestsProblemDetail]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    httpx_client = client.get_async_httpx_client()
    kwargs["url"] = under_base_url(httpx_client.base_url, kwargs["url"])
    response = await httpx_client.request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: QueryRequest,
) -> ErrorResponse | QueryResponse | TooManyRequestsProblemDetail | None:
    """Run query

     Run a CQL query as an asynchronous job. The answer carries the job id to poll with "Retrieve query
    results". The same CQL cannot run twice at once (409).

    Args:
        body (QueryRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | QueryResponse | TooManyRequestsProblemDetail
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
