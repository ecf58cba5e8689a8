"""The endpoint dialog's targets table as a widget: its buttons, its editors and the cell a
server error names (real widgets, offscreen; the providers are the live server's)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox

from gui.dialogs.targets import TargetsEditor

WAIT = 10_000


def editor_for(qtbot, ctx, providers: list[dict]) -> TargetsEditor:
    editor = TargetsEditor(ctx, providers)
    qtbot.addWidget(editor)
    editor.resize(800, 240)
    editor.show()
    qtbot.waitExposed(editor)
    return editor


def test_buttons_follow_the_selection(qtbot, ctx, api) -> None:
    providers = api.items("providers")
    editor = editor_for(qtbot, ctx, providers)
    editor.add_target()
    assert not editor.remove.isEnabled()  # an endpoint keeps at least one target
    editor.add.click()
    assert editor.model.rowCount() == 2 and editor.selected() == 1
    assert editor.model.rows[1]["priority"] == 1  # a fallback
    assert editor.remove.isEnabled() and editor.up.isEnabled() and not editor.down.isEnabled()
    editor.model.rows[0]["model"], editor.model.rows[1]["model"] = "first", "second"
    editor.up.click()
    assert [r["model"] for r in editor.model.rows] == ["second", "first"]
    assert editor.selected() == 0 and editor.down.isEnabled() and not editor.up.isEnabled()
    editor.remove.click()
    assert [r["model"] for r in editor.model.rows] == ["first"]
    ctx.tasks.wait()


def test_cells_edit_with_the_right_editors(qtbot, ctx, api) -> None:
    providers = api.items("providers")
    editor = editor_for(qtbot, ctx, providers)
    editor.add_target()
    model, view = editor.model, editor.table
    made = {}
    for key in ("provider", "model", "priority", "weight", "price_input_per_m"):
        index = model.index(0, model.column_index(key))
        made[key] = view.itemDelegateForColumn(index.column()).createEditor(
            view.viewport(), None, index)
    assert isinstance(made["provider"], QComboBox)
    assert made["provider"].count() == len(providers)
    assert isinstance(made["model"], QComboBox) and made["model"].isEditable()
    # 0 can be typed: the model refuses it and marks the cell (the spin box hid it).
    assert (made["weight"].minimum(), made["weight"].maximum()) == (0, 1000)
    assert isinstance(made["priority"], QSpinBox)
    assert isinstance(made["price_input_per_m"], QLineEdit)
    assert made["price_input_per_m"].validator() is not None
    echo = next(p for p in providers if p["name"] == "echo")
    delegate, index = editor.provider_delegate, model.index(0, model.column_index("provider"))
    made["provider"].setCurrentIndex(made["provider"].findData(echo["id"]))
    with qtbot.waitSignal(editor.models_loaded, timeout=WAIT,
                          check_params_cb=lambda pid, _m: pid == echo["id"]):
        delegate.setModelData(made["provider"], model, index)
    assert model.cell(0, "provider") == "echo" and editor.models[echo["id"]] == ["echo"]
    ctx.tasks.wait()


def test_the_cell_a_server_error_names_gets_the_focus(qtbot, ctx) -> None:
    editor = editor_for(qtbot, ctx, [{"id": 1, "name": "a"}])
    editor.set_targets([{"provider_id": 1, "model": "x", "priority": 0, "weight": 1},
                        {"provider_id": 1, "model": "y", "priority": 1, "weight": 1}])
    assert editor.mark_error("targets[1].weight", "weight must be 1 to 1000")
    current = editor.table.currentIndex()
    assert (current.row(), current.column()) == (1, editor.model.column_index("weight"))
    assert not editor.mark_error("name", "name is taken")
    ctx.tasks.wait()


def test_unchanged_targets_are_not_sent_again(qtbot, ctx) -> None:
    """The list replaces the targets whole: sent unchanged, their ids (and the router's
    health of each) would start over for an edit of the name."""
    from gui.dialogs.endpoint import EndpointDialog

    target = {"id": 4, "provider_id": 1, "provider": "a", "model": "x", "priority": 0,
              "weight": 1, "enabled": True, "price_input_per_m": None,
              "price_cached_input_per_m": None, "price_output_per_m": None, "price": None,
              "health": None}
    row = {"id": 9, "name": "chat", "path": "/api/chat", "kind": "chat", "enabled": True,
           "targets": [target], "monthly_budget": None}
    dialog = EndpointDialog(ctx, [{"id": 1, "name": "a"}], row)
    qtbot.addWidget(dialog)
    dialog.name.setText("chat-2")
    assert "targets" not in dialog.payload() and dialog.payload()["name"] == "chat-2"
    dialog.targets.model.setData(dialog.targets.model.index(0, 1), "y")
    assert [t["model"] for t in dialog.payload()["targets"]] == ["y"]
    ctx.tasks.wait()



def test_a_model_typed_is_the_model_saved(qtbot, ctx) -> None:
    """Walk: "gpt-4o" typed and Enter saved "gpt-4o-mini": the editable combo's default
    completer filled in the first longer match (it needs keyboard focus, so offscreen
    only its absence can be checked)."""
    editor = editor_for(qtbot, ctx, [{"id": 1, "name": "a"}])
    editor.set_targets([{"provider_id": 1, "model": "x", "priority": 0, "weight": 1}])
    editor.models[1] = ["gpt-4o-mini", "gpt-4o"]
    index = editor.model.index(0, editor.model.column_index("model"))
    combo = editor.model_delegate.createEditor(editor.table.viewport(), None, index)
    assert combo.completer() is None and combo.count() == 2  # the models: the list
    editor.model_delegate.setEditorData(combo, index)
    combo.lineEdit().clear()
    qtbot.keyClicks(combo.lineEdit(), "gpt-4o")
    editor.model_delegate.setModelData(combo, editor.model, index)
    assert editor.model.rows[0]["model"] == "gpt-4o"
    ctx.tasks.wait()


def test_a_price_override_can_be_taken_away(qtbot, ctx) -> None:
    """Walk: an emptied price cell kept its price (the validator called "" Intermediate,
    and the view commits a line edit on Enter only when its input is acceptable)."""
    editor = editor_for(qtbot, ctx, [{"id": 1, "name": "a"}])
    editor.set_targets([{"provider_id": 1, "model": "x", "priority": 0, "weight": 1,
                         "price_cached_input_per_m": 8.0}])
    index = editor.model.index(0, editor.model.column_index("price_cached_input_per_m"))
    field = editor.price_delegate.createEditor(editor.table.viewport(), None, index)
    editor.price_delegate.setEditorData(field, index)
    assert field.text() == "8"
    field.clear()
    assert field.hasAcceptableInput()
    qtbot.keyClicks(field, "-1")
    assert not field.hasAcceptableInput() or field.text() != "-1"  # no negative prices
    field.setText("  ")
    assert field.hasAcceptableInput()
    editor.price_delegate.setModelData(field, editor.model, index)
    assert editor.model.rows[0]["price_cached_input_per_m"] is None
    ctx.tasks.wait()


def test_moving_a_target_keeps_the_focus_on_the_table(qtbot, ctx) -> None:
    """Walk: Up on the second row disabled Up, and the focus fell to the next field."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    window = QWidget()
    qtbot.addWidget(window)
    editor = TargetsEditor(ctx, [{"id": 1, "name": "a"}])
    after = QLineEdit()
    layout = QVBoxLayout(window)
    layout.addWidget(editor)
    layout.addWidget(after)
    window.show()
    qtbot.waitExposed(window)
    editor.set_targets([{"provider_id": 1, "model": "x", "priority": 0, "weight": 1},
                        {"provider_id": 1, "model": "y", "priority": 1, "weight": 1}])
    editor.select(1)
    editor.up.setFocus()
    editor.up.click()
    assert not editor.up.isEnabled()
    assert window.focusWidget() is editor.table  # offscreen: where the focus will be
    ctx.tasks.wait()


def test_a_refused_value_is_pointed_at(qtbot, ctx) -> None:
    """Walk: a weight of 0 went back to the old weight, and the selected row's colour hid
    the cell's error colour."""
    editor = editor_for(qtbot, ctx, [{"id": 1, "name": "a"}])
    editor.set_targets([{"provider_id": 1, "model": "x", "priority": 0, "weight": 5}])
    editor.select(0)
    index = editor.model.index(0, editor.model.column_index("weight"))
    with qtbot.waitSignal(editor.model.refused, timeout=WAIT):
        assert not editor.model.setData(index, 0)
    assert editor.model.rows[0]["weight"] == 5
    assert editor.selected() is None and editor.table.currentIndex() == index
    ctx.tasks.wait()
