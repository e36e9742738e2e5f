"""Predictive traits computed from per-customer aggregates: churn risk, segments, lifetime value.

dbt runs Python models in parallel threads of one process. scikit-learn's package imports are
not safe to run from two threads at once (one thread can see a half-initialized
`sklearn.base`), so the models call `load_models()` and the modules that need scikit-learn are
first imported under one lock.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

_IMPORT_LOCK = threading.Lock()


def load_models() -> dict[str, ModuleType]:
    """The churn, clustering and CLV modules, imported once and safely from any thread."""
    with _IMPORT_LOCK:
        return {
            name: importlib.import_module(f"cdp.predictive.{name}")
            for name in ("churn", "clustering", "clv")
        }
