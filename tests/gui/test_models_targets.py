"""The endpoint dialog's targets table model on its own: the order tried, editing, the
`targets` list it makes and the cell a server error names."""

from __future__ import annotations

from PySide6.QtCore import Qt

from gui.models.targets import ERROR_BACKGROUND, TargetsModel, field_cell, parse_price

EDIT = Qt.ItemDataRole.EditRole
PROVIDERS = [{"id": 1, "name": "openai"}, {"id": 2, "name": "local"}]


def target(provider_id: int, model: str, priority: int, **extra: object) -> dict:
    return {"id": 10 + priority, "provider_id": provider_id, "model": model,
            "priority": priority, "weight": 1, "enabled": True, "price_input_per_m": None,
            "price_cached_input_per_m": None, "price_output_per_m": None, "price": None,
            **extra}


def two_targets() -> TargetsModel:
    model = TargetsModel(PROVIDERS)
    model.set_rows([target(2, "llama3", 5),
                    target(1, "gpt-4o", 0, price={"input": 2.5, "cached_input": 1.25,
                                                  "output": 10.0, "source": "table 2026-11-01"},
                           price_output_per_m=8)])
    return model


def set_cell(model: TargetsModel, row: int, key: str, value: object) -> bool:
    return model.setData(model.index(row, model.column_index(key)), value, EDIT)


def test_rows_read_in_the_order_tried(qtmodeltester) -> None:
    model = two_targets()
    assert model.headers() == ["Provider", "Model", "Priority", "Weight", "Enabled",
                              "Input $/M", "Cached input $/M", "Output $/M"]
    assert [model.cell(i, "provider") for i in range(2)] == ["openai", "local"]
    assert model.cell(0, "price_input_per_m") == "2.5 (table)"  # the shipped price
    assert model.cell(0, "price_output_per_m") == "8"  # the target's own
    assert model.cell(1, "price_input_per_m") == "—"  # no price known
    assert model.cell(0, "price_input_per_m", Qt.ItemDataRole.ForegroundRole) is not None
    assert model.cell(0, "price_output_per_m", Qt.ItemDataRole.ForegroundRole) is None
    assert model.cell(0, "enabled", Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.cell(0, "provider", EDIT) == 1
    assert "Lower is tried first" in model.headerData(
        model.column_index("priority"), Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    qtmodeltester.check(model)


def test_targets_are_the_admin_api_list() -> None:
    assert two_targets().targets() == [
        {"provider_id": 1, "model": "gpt-4o", "priority": 0, "weight": 1, "enabled": True,
         "price_input_per_m": None, "price_cached_input_per_m": None,
         "price_output_per_m": 8},
        {"provider_id": 2, "model": "llama3", "priority": 5, "weight": 1, "enabled": True,
         "price_input_per_m": None, "price_cached_input_per_m": None,
         "price_output_per_m": None}]


def test_cells_edit_and_refuse_what_the_server_would(qtmodeltester) -> None:
    model = two_targets()
    assert set_cell(model, 1, "provider", 1) and model.cell(1, "provider") == "openai"
    assert set_cell(model, 0, "model", " gpt-4o-mini ")
    assert model.rows[0]["model"] == "gpt-4o-mini"
    assert model.cell(0, "price_input_per_m") == "—"  # the table's price was the old model's
    assert set_cell(model, 1, "weight", 40) and model.rows[1]["weight"] == 40
    assert not set_cell(model, 1, "weight", 0) and not set_cell(model, 1, "weight", 1001)
    # Walk: a 0 typed went back to 1 without a word; now the cell says why.
    assert model.rows[1]["weight"] == 40
    assert model.cell(1, "weight", Qt.ItemDataRole.BackgroundRole) == ERROR_BACKGROUND
    assert "1 to 1000" in model.cell(1, "weight", Qt.ItemDataRole.ToolTipRole)
    assert set_cell(model, 1, "weight", 2)  # a good value clears the mark
    assert model.cell(1, "weight", Qt.ItemDataRole.BackgroundRole) is None
    assert set_cell(model, 1, "price_input_per_m", "0.4")
    assert model.cell(1, "price_cached_input_per_m") == "0.4 (input)"  # the server's fallback
    assert set_cell(model, 1, "price_cached_input_per_m", "0,5")  # a comma is a decimal point
    assert model.rows[1]["price_cached_input_per_m"] == 0.5
    assert not set_cell(model, 1, "price_input_per_m", "cheap")
    assert not set_cell(model, 1, "price_input_per_m", "-1")
    assert set_cell(model, 1, "price_cached_input_per_m", "") and (
        model.rows[1]["price_cached_input_per_m"] is None)
    index = model.index(1, model.column_index("enabled"))
    assert model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
    assert model.setData(index, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert model.rows[1]["enabled"] is False
    assert set_cell(model, 1, "priority", -3)  # a priority edit re-sorts
    assert [r["model"] for r in model.rows] == ["llama3", "gpt-4o-mini"]
    qtmodeltester.check(model)


def test_add_makes_a_fallback_and_remove_takes_one_out() -> None:
    model = two_targets()
    row = model.add_target(2)
    assert row == 2 and model.rows[2]["priority"] == 6 and model.cell(2, "provider") == "local"
    assert model.problems() == [(2, "model", "target 3: name the upstream model")]
    model.remove_target(0)
    assert [r["model"] for r in model.rows] == ["llama3", ""]
    empty = TargetsModel(PROVIDERS)
    assert empty.add_target(1) == 0 and empty.rows[0]["priority"] == 0


def test_up_and_down_swap_priorities() -> None:
    model = two_targets()
    assert model.move(1, -1) == 0
    assert [(r["model"], r["priority"]) for r in model.rows] == [("llama3", 0), ("gpt-4o", 5)]
    assert model.move(0, -1) == 0  # already first
    assert model.move(1, 1) == 1  # already last


def test_moving_within_a_weighted_pool_puts_one_after_the_other() -> None:
    model = TargetsModel(PROVIDERS)
    model.set_rows([target(1, "a", 0), target(1, "b", 0), target(2, "c", 1)])
    assert model.move(1, -1) == 0  # b before a, where both shared priority 0
    assert [(r["model"], r["priority"]) for r in model.rows] == [("b", 0), ("a", 1),
                                                                  ("c", 2)]


def test_the_cell_a_server_error_names_is_marked() -> None:
    model = two_targets()
    assert model.mark_error("targets[1].weight", "weight must be 1 to 1000") == (1, "weight")
    assert model.cell(1, "weight", Qt.ItemDataRole.BackgroundRole) == ERROR_BACKGROUND
    assert model.cell(1, "weight", Qt.ItemDataRole.ToolTipRole) == "weight must be 1 to 1000"
    assert model.cell(0, "weight", Qt.ItemDataRole.BackgroundRole) is None
    assert model.mark_error("targets[0].provider", "no such provider") == (0, "provider")
    assert model.mark_error("targets[0].provider_id", "no such provider") == (0, "provider")
    assert model.mark_error("targets[7].model", "x") is None  # no such row
    assert model.mark_error("monthly_budget", "x") is None
    set_cell(model, 0, "model", "gpt-4.1")  # an edit clears the mark
    assert model.cell(0, "provider", Qt.ItemDataRole.BackgroundRole) is None


def test_field_names_and_prices_parse() -> None:
    assert field_cell("targets[12].price_input_per_m") == (12, "price_input_per_m")
    assert field_cell("targets[0]") == (0, "model")
    assert field_cell("targets[x].model") is None and field_cell(None) is None
    assert parse_price(" 2.5 ") == 2.5 and parse_price("") is None and parse_price(None) is None
