# mypy: disable-error-code="import-untyped"
"""Whose session is this: Django's session payloads decoded without Django in the product
(breakglass/runbooks/lockout/sessions.py), checked against payloads Django itself produces; a
cache entry that would run code is refused, not executed; and the probe's verdicts."""

from __future__ import annotations

import base64
import json
import os
import pickle
from pathlib import Path

import pytest
from django.conf import settings
from django.core import signing

from breakglass.runbooks.lockout import sessions as sx
from breakglass.runbooks.lockout.probe import verdict

SALT = "django.contrib.sessions.SessionStore"  # what SessionBase.encode signs with

if not settings.configured:
    settings.configure(SECRET_KEY="test-only-key")


def django_encode(session: dict[str, object]) -> str:
    # SessionBase.encode (Django >= 3.1): signing.dumps with JSONSerializer, compress=True
    return str(signing.dumps(session, salt=SALT, compress=True))


def test_compressed_signed_payload_is_decoded() -> None:
    data = django_encode({"_auth_user_id": "42", "cart": ["x" * 200]})
    assert data.startswith(".")  # zlib made it shorter: the compressed form
    assert sx.owner(sx.decode_db(data)) == "42"


def test_short_uncompressed_payload_is_decoded() -> None:
    data = django_encode({"_auth_user_id": "7"})
    assert sx.owner(sx.decode_db(data)) == "7"


def test_legacy_pre_31_payload_is_decoded() -> None:
    legacy = base64.b64encode(b"0123abcd:" + json.dumps({"_auth_user_id": "9"}).encode())
    assert sx.owner(sx.decode_db(legacy.decode())) == "9"


@pytest.mark.parametrize("garbage", ["", "not a session", "....:x:y", "e30:zz"])
def test_garbage_is_no_session(garbage: str) -> None:
    assert sx.owner(sx.decode_db(garbage)) is None


def test_anonymous_session_has_no_owner() -> None:
    assert sx.owner(sx.decode_db(django_encode({"cart": [1]}))) is None


def test_cache_entry_with_a_plain_dict_is_decoded() -> None:
    assert sx.owner(sx.decode_cache(pickle.dumps({"_auth_user_id": "5"}))) == "5"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (os.rename, (str(self.marker), str(self.marker) + ".moved"))


def test_cache_entry_that_would_call_a_function_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    marker.write_text("x")
    assert sx.decode_cache(pickle.dumps({"_auth_user_id": "5", "x": _Evil(marker)})) is None
    assert marker.exists()


@pytest.mark.parametrize(("status", "location", "expected"), [
    (200, "", "accepted"), (204, "", "accepted"), (401, "", "refused"), (403, "", "refused"),
    (302, "/accounts/login/?next=/whoami/", "refused"), (302, "/elsewhere/", None),
    (404, "", None), (500, "", None)])
def test_probe_verdicts(status: int, location: str, expected: str | None) -> None:
    assert verdict(status, location, "login") == expected
