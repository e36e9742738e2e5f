"""Helpers the predictive models share for reading per-customer frames."""

from __future__ import annotations

import pandas as pd


def feature_columns(frame: pd.DataFrame, exclude: tuple[str, ...]) -> tuple[str, ...]:
    """Numeric and boolean columns, in frame order, other than `exclude`: the model features.

    Callers pass whatever the warehouse computed; ids, labels and text columns are left out.
    """
    return tuple(
        str(name)
        for name, dtype in frame.dtypes.items()
        if name not in exclude
        and (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
        and not pd.api.types.is_timedelta64_dtype(dtype)
    )
