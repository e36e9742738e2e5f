"""The pieces of the Spark target that need no Spark: settings, type mapping, routing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cdp.pipeline import Settings, predict
from cdp.predictive.tables import by_customer
from cdp.predictive.warehouse import _rows, _spark_type
from cdp.spark import server_side_parameters


def test_the_session_settings_come_from_the_dbt_profile() -> None:
    parameters = server_side_parameters({"CDP_SPARK_DIR": "/data/spark"})
    assert parameters["spark.sql.warehouse.dir"] == "/data/spark/warehouse"
    assert (
        "databaseName=/data/spark/metastore_db"
        in parameters["spark.hadoop.javax.jdo.option.ConnectionURL"]
    )
    assert parameters["spark.master"] == "local[2]"
    assert parameters["spark.sql.session.timeZone"] == "UTC"
    assert server_side_parameters({"CDP_SPARK_MASTER": "local[1]"})["spark.master"] == "local[1]"


def test_result_frames_map_to_spark_types_with_nulls() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["b", "a"],
            "score": [0.5, np.nan],
            "count": [3, 4],
            "flag": [True, False],
            "note": [None, "x"],
        }
    )
    assert [_spark_type(frame[name]) for name in frame.columns] == [
        "string",
        "double",
        "bigint",
        "boolean",
        "string",
    ]
    assert _rows(frame) == [("b", 0.5, 3, True, None), ("a", None, 4, False, "x")]


def test_models_train_on_frames_in_customer_order() -> None:
    frame = pd.DataFrame({"customer_id": ["c", "a", "b"], "value": [3, 1, 2]})
    assert by_customer(frame)["value"].tolist() == [1, 2, 3]


def test_cdp_predict_is_for_the_spark_target() -> None:
    with pytest.raises(ValueError, match="spark target"):
        predict(Settings(target="duckdb"))
