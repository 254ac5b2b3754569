"""engine/measures.py: a runbook declares once what it measured; the --json records, the metrics
gauges and the notice's key numbers all come from that one declaration."""

from __future__ import annotations

from breakglass.engine.measures import Measured, Quantity, figures, gauges, json_records

DRILL = Measured("backups.main", (
    Quantity("rto_seconds", 252.0, "seconds", 1800.0, label="RTO", gauge=True),
    Quantity("bytes", 3_200_000, "bytes"),
    Quantity("rows", None, "count", label="rows")), key="main-1.dump", metric="drill")


def test_json_has_every_number_its_target_beside_it_and_null_for_what_was_not_reached() -> None:
    assert json_records([DRILL]) == [{
        "subject": "backups.main", "key": "main-1.dump", "rto_seconds": 252.0,
        "rto_target_seconds": 1800.0, "bytes": 3_200_000, "rows": None}]


def test_gauges_are_the_marked_quantities_and_their_targets_under_the_prefix() -> None:
    assert gauges([DRILL]) == {"drill_rto_seconds": 252.0, "drill_rto_target_seconds": 1800.0}


def test_a_gauge_not_reached_is_missing_not_zero() -> None:
    early = Measured("backups.main", (Quantity("rto_seconds", None, "seconds", gauge=True),),
                     metric="drill")
    assert gauges([early]) == {}


def test_the_notice_shows_the_labelled_numbers_reached_in_words_then_the_backup() -> None:
    assert [(f.label, f.text, dict(f.data)) for f in figures([DRILL])] == [
        ("RTO", "4m 12s (target 30m)", {"rto_seconds": 252.0, "rto_target_seconds": 1800.0}),
        ("backup", "main-1.dump", {"backup": "main-1.dump"})]


def test_with_several_subjects_each_key_number_names_its_subject() -> None:
    take = [Measured(f"backups.{n}", (Quantity("rows", 12345, "count", label="rows"),),
                     key=f"{n}.dump") for n in ("main", "audit")]
    got = [(f.label, f.text, dict(f.data)) for f in figures(take)]
    assert got[:2] == [("backups.main rows", "12,345", {"backups.main": {"rows": 12345}}),
                       ("backups.main backup", "main.dump",
                        {"backups.main": {"backup": "main.dump"}})]
    assert [label for label, _, _ in got[2:]] == ["backups.audit rows", "backups.audit backup"]


def test_a_count_held_to_a_target_is_named_with_it() -> None:
    fleet = Measured("releases", (Quantity("hosts_changed", 2, "count", 3,
                                           label="hosts changed"),))
    assert json_records([fleet])[0]["hosts_changed_target"] == 3
    assert figures([fleet])[0].text == "2 (target 3)"
