"""Choosing the rollback target (breakglass/runbooks/rollback/choose.py) and reading a host's
listing (layout.parse_listing): pure functions, no hosts needed."""

from __future__ import annotations

import pytest

from breakglass.engine.findings import Outcome
from breakglass.errors import CouldNotVerify, UsageError
from breakglass.runbooks.rollback.choose import Choice, HostRead, choose
from breakglass.runbooks.rollback.layout import HostReleases, check_release_id, parse_listing


def host(name: str, current: str | None, *releases: str) -> HostRead:
    return HostRead(name, name, HostReleases(name, "/srv/app", releases, current))


def codes(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.code for f in findings]


def test_target_is_the_newest_release_older_than_current_in_natural_order() -> None:
    choice, found = choose([host("web1", "v10", "v8", "v9", "v10", "v11")], None)
    assert found == [] and choice == Choice("v9", {"web1": "v10"})


def test_a_fleet_on_different_releases_is_refused_without_to() -> None:
    choice, found = choose([host("web1", "r3", "r2", "r3"), host("web2", "r2", "r2", "r3")],
                           None)
    assert choice is None and codes(found) == ["FLEET_SPLIT"]


def test_to_brings_a_split_fleet_onto_one_release() -> None:
    choice, found = choose([host("web1", "r3", "r2", "r3"), host("web2", "r2", "r2", "r3")],
                           "r2")
    assert found == [] and choice == Choice("r2", {"web1": "r3", "web2": "r2"})


def test_no_older_release_is_refused() -> None:
    choice, found = choose([host("web1", "r1", "r1", "r2")], None)
    assert choice is None and codes(found) == ["NO_PREVIOUS_RELEASE"]


def test_target_missing_is_one_finding_per_host_that_lacks_it() -> None:
    choice, found = choose([host("web1", "r3", "r1", "r3"), host("web2", "r3", "r3"),
                            host("web3", "r3", "r3")], "r1")
    assert choice is None
    assert [(f.code, f.subject) for f in found] == [("ROLLBACK_TARGET_MISSING", "web2"),
                                                    ("ROLLBACK_TARGET_MISSING", "web3")]


def test_an_unreachable_host_could_not_be_verified_and_refuses_the_choice() -> None:
    down = HostRead("web2", "web2", error=CouldNotVerify("connection refused",
                                                         code="HOST_UNREACHABLE"))
    choice, found = choose([host("web1", "r3", "r2", "r3"), down], None)
    assert choice is None
    assert [(f.code, f.outcome) for f in found] == [("HOST_UNREACHABLE", Outcome.UNVERIFIED)]


def test_a_pinned_choice_survives_a_half_rolled_fleet() -> None:
    pinned = Choice("r2", {"web1": "r3", "web2": "r3"})
    choice, found = choose([host("web1", "r2", "r2", "r3"), host("web2", "r3", "r2", "r3")],
                           None, pinned)
    assert found == [] and choice == pinned


def test_listing_reads_current_releases_and_an_owed_restart() -> None:
    text = ("base /home/d/app\ncurrent /home/d/app/releases/r2\nrelease r1\nrelease r2\n"
            "pending 2026-run r2\n")
    seen = parse_listing("web1", "~/app", text)
    assert (seen.base, seen.current, seen.releases, seen.pending, seen.problem) == (
        "/home/d/app", "r2", ("r1", "r2"), "2026-run r2", None)


def test_current_pointing_outside_releases_is_a_layout_problem() -> None:
    seen = parse_listing("web1", "/srv/app", "base /srv/app\ncurrent /opt/other\nrelease r1\n")
    assert seen.current is None and seen.problem is not None and "/opt/other" in seen.problem


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".hidden", "", "x y"])
def test_release_ids_cannot_leave_the_layout(bad: str) -> None:
    with pytest.raises(UsageError):
        check_release_id(bad)
