"""Fixtures the reverse-ETL tests share (helpers they share are in `support.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer


@pytest.fixture(scope="module")
def server() -> Iterator[HTTPServer]:
    """A local HTTP server for the module's fake API (pytest-httpserver)."""
    running = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    running.start()
    # Answers go out at once instead of waiting on delayed ACKs (Nagle), as real APIs do.
    handler = running.server.RequestHandlerClass
    running.server.RequestHandlerClass = type(
        "NoDelayHandler", (handler,), {"disable_nagle_algorithm": True}
    )
    yield running
    running.clear()
    running.stop()
