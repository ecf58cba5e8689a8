"""logsql._make_encodable: a row's text checked at once, and only a row with something a
database cannot store (a lone surrogate, NUL) rewritten, column by column."""

from __future__ import annotations

from server.logsql import _make_encodable


def test_plain_text_is_left_as_it_is() -> None:
    record = {"request_id": "req_1", "model": "m", "error": None, "client_ip": "127.0.0.1",
              "agent_session": "", "status": 200}
    _make_encodable(record)
    assert record == {"request_id": "req_1", "model": "m", "error": None,
                      "client_ip": "127.0.0.1", "agent_session": "", "status": 200}


def test_what_no_database_stores_is_replaced_where_it_is() -> None:
    record = {"request_id": "req_é", "model": "m\x00", "error": "bad \ud800 end",
              "client_ip": "::1"}
    _make_encodable(record)
    assert record == {"request_id": "req_é", "model": "m\ufffd",
                      "error": "bad \ufffd end", "client_ip": "::1"}


def test_not_text_in_a_text_column_is_skipped_and_the_rest_checked() -> None:
    record = {"model": 7, "error": "x\x00"}
    _make_encodable(record)
    assert record == {"model": 7, "error": "x\ufffd"}


def test_attempts_become_their_json_text() -> None:
    record = {"attempt_log": [{"status": 502, "error": "down \udfff"}]}
    _make_encodable(record)
    assert record["attempt_log"] == '[{"status":502,"error":"down \\udfff"}]'
