"""Check requests received by fake vendor servers against the vendors' own OpenAPI files.

The files live in `../shared/contracts/<vendor>/` (one or more per vendor). Each is loaded
once; a request is matched to the file and operation that declare its method and path, then
validated (path, query, headers, security, body). Responses the fakes send back can be
validated the same way, so the fakes answer with the shapes the vendor documents.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.wrappers import Request, Response

CONTRACTS = Path(__file__).resolve().parents[3] / "shared" / "contracts"
_METHODS = ("get", "put", "post", "delete", "patch")


class ContractViolation(AssertionError):
    """A request or response that the vendor's OpenAPI description does not allow."""


@dataclass(frozen=True)
class _Operation:
    method: str
    pattern: re.Pattern[str]
    template: str
    spec: OpenAPI
    source: str


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(f"^{regex}$")


@cache
def _operations(vendor: str) -> tuple[_Operation, ...]:
    operations: list[_Operation] = []
    for path in sorted((CONTRACTS / vendor).glob("*.json")):
        document = json.loads(path.read_text())
        # The fakes listen on 127.0.0.1, not on the vendor's host: a relative server makes
        # the files match any host while keeping every path exactly as documented.
        document["servers"] = [{"url": "/"}]
        spec = OpenAPI.from_dict(document)
        for template, item in document["paths"].items():
            for method in _METHODS:
                if method in item:
                    operations.append(
                        _Operation(method, _path_pattern(template), template, spec, path.name)
                    )
    if not operations:
        raise FileNotFoundError(f"no OpenAPI files under {CONTRACTS / vendor}")
    # Literal segments win over templated ones (`/contacts/search` before `/contacts/{id}`).
    operations.sort(key=lambda operation: operation.template.count("{"))
    return tuple(operations)


def _operation_for(vendor: str, request: Request) -> _Operation:
    method = request.method.lower()
    for operation in _operations(vendor):
        if operation.method == method and operation.pattern.match(request.path):
            return operation
    raise ContractViolation(
        f"{request.method} {request.path}: no operation in the {vendor} OpenAPI files"
    )


def _describe(error: Exception) -> str:
    details = [str(error)]
    cause = error.__cause__
    while cause is not None:
        details.append(str(cause))
        for inner in getattr(cause, "schema_errors", ()) or ():
            location = "/".join(str(part) for part in inner.absolute_path) or "(body)"
            details.append(f"at {location}: {inner.message}")
        cause = cause.__cause__
    return "; ".join(dict.fromkeys(detail for detail in details if detail))


def validate_request(vendor: str, request: Request) -> str:
    """Raise `ContractViolation` unless the request fits the vendor's files; return the file."""
    operation = _operation_for(vendor, request)
    try:
        operation.spec.validate_request(WerkzeugOpenAPIRequest(request))
    except Exception as error:
        raise ContractViolation(
            f"{request.method} {request.path} does not match {vendor}/{operation.source}: "
            f"{_describe(error)}"
        ) from error
    return operation.source


def validate_response(vendor: str, request: Request, response: Response) -> None:
    """Raise `ContractViolation` unless the response is one the operation documents."""
    operation = _operation_for(vendor, request)
    try:
        operation.spec.validate_response(
            WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response)
        )
    except Exception as error:
        raise ContractViolation(
            f"response {response.status_code} to {request.method} {request.path} does not"
            f" match {vendor}/{operation.source}: {_describe(error)}"
        ) from error
