"""Fixtures of the application tests: the `cdp` command run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CDP = str(Path(sys.executable).parent / "cdp")


def _run_cdp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CDP, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def run_cdp() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed `cdp` executable with `args` (and extra environment variables)."""
    return _run_cdp
