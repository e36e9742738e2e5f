"""The model folders follow the flow written in dbt_project.yml (vars.model_flow): no model or
exposure reads from a folder later in the flow, checked on the manifest `dbt parse` writes."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
import yaml

from cdp import DBT_PROJECT_DIR


def flow_order() -> list[str]:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return list(project["vars"]["model_flow"])


def place(path: str, order: list[str]) -> int:
    """The index in the flow of the longest folder of `order` that `path` (under models/) is in."""
    parts = PurePosixPath(path).parts
    assert parts[0] == "models", path
    folder = parts[1:-1]
    matches = [
        (len(PurePosixPath(entry).parts), index)
        for index, entry in enumerate(order)
        if folder[: len(PurePosixPath(entry).parts)] == PurePosixPath(entry).parts
    ]
    assert matches, f"{path} is in no folder of vars.model_flow {order}"
    return max(matches)[1]


def backward_edges(manifest: dict, order: list[str]) -> list[str]:
    """Every model or exposure that reads a model of a folder later in `order`."""
    nodes = manifest["nodes"]
    readers = [node for node in nodes.values() if node["resource_type"] == "model"]
    readers += list(manifest["exposures"].values())
    found = []
    for reader in readers:
        reader_place = place(reader["original_file_path"], order)
        for upstream_id in reader["depends_on"]["nodes"]:
            upstream = nodes.get(upstream_id)
            if upstream is None or upstream["resource_type"] != "model":
                continue
            upstream_place = place(upstream["original_file_path"], order)
            if upstream_place > reader_place:
                found.append(
                    f"{reader['name']} ({order[reader_place]}) reads "
                    f"{upstream['name']} ({order[upstream_place]})"
                )
    return sorted(found)


@pytest.fixture(scope="module")
def manifest(dbt_manifest: dict) -> dict:
    return dbt_manifest


def test_no_model_reads_from_a_later_folder(manifest: dict) -> None:
    assert backward_edges(manifest, flow_order()) == []


def test_every_model_folder_is_in_the_flow(manifest: dict) -> None:
    order = flow_order()
    assert len(set(order)) == len(order)
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model":
            place(node["original_file_path"], order)


def test_the_check_sees_a_folder_out_of_order(manifest: dict) -> None:
    """Swapping two folders that depend on each other one way turns their edges backward."""
    order = flow_order()
    first, second = order.index("traits"), order.index("segments")
    order[first], order[second] = order[second], order[first]
    edges = backward_edges(manifest, order)
    assert "seg_champions (segments) reads customer_traits (traits)" in edges


MACROS = DBT_PROJECT_DIR / "macros"
MODELS = DBT_PROJECT_DIR / "models"


def calls_ref(jinja: str) -> bool:
    """Whether Jinja/SQL text calls ref(), comments and string literals (messages) aside."""
    text = re.sub(r"\{#.*?#\}", "", jinja, flags=re.S)
    text = re.sub(r"--[^\n]*", "", text)
    text = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", text)
    return re.search(r"(?<![\w.])ref\s*\(", text) is not None


def test_macros_are_handed_relations_and_never_call_ref() -> None:
    calling = {
        path.relative_to(MACROS).as_posix()
        for path in MACROS.rglob("*.sql")
        if calls_ref(path.read_text(encoding="utf-8"))
    }
    assert not calling, calling


def test_models_declare_no_dependency_in_comments() -> None:
    """A model hands what it reads to macros (model_inputs), so none needs `-- depends_on:`."""
    commented = sorted(
        path.relative_to(MODELS).as_posix()
        for path in MODELS.rglob("*.sql")
        if "depends_on" in path.read_text(encoding="utf-8")
    )
    assert commented == []


def test_the_ref_check_sees_a_call() -> None:
    assert calls_ref("select * from {{ ref('customers') }}")
    assert calls_ref("{%- do parts.append('x' ~ ref(upstream)) -%}")
    assert not calls_ref("{# hand ref('customers') to the macro #}\nselect 1")
    assert not calls_ref("select {{ model_input(inputs, 'customers') }}")
