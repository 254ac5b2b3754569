"""The docs' generated tables (breakglass/docsgen.py) match the code, and the config walk reads
any model shape: nested sections, NAME tables, arrays of tables, discriminated unions."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field

from breakglass import docsgen
from breakglass.config.base import SecretRef, Section
from breakglass.config.reference import Key, keys


def test_the_generated_tables_in_the_docs_are_current() -> None:
    stale = [str(p.relative_to(docsgen.DOCS)) for p in docsgen.stale()]
    assert stale == [], f"stale generated tables in {stale}: run `python -m breakglass.docsgen`"


def test_configuration_md_documents_the_checklist_and_scenario_sections() -> None:
    page = (docsgen.DOCS / "configuration.md").read_text("utf-8")
    for key in ("checklist.web.cors_paths", "checklist.hosts.firewall", "checklist.data.redis",
                "checklist.repo.osv_url", "checklist.ops.docs", "drills.scenarios.base_url",
                "drills.scenarios.webhook_signature.secret"):
        assert f"| `{key}` |" in page


def test_runs_md_lists_every_event_type_and_status_of_the_engine() -> None:
    from breakglass.engine.events import EVENTS, FINISHED, LIVE

    page = (docsgen.DOCS / "runs.md").read_text("utf-8")
    for name in [*EVENTS, *FINISHED, *LIVE]:
        assert f"| `{name}` " in page


class _Aws(Section):
    kind: Literal["aws"]
    #: shared by every kind
    description: str = ""
    #: the IAM user
    user: str


class _Stripe(Section):
    """A Stripe webhook."""

    kind: Literal["stripe"]
    #: shared by every kind
    description: str = ""
    api_key: SecretRef = Field(description="a Stripe key  that may\nwrite endpoints")


class _Entry(Section):
    sql: str
    min: int | None = Field(default=None, ge=0, le=10)


class _Root(Section):
    secrets: dict[str, Annotated[_Aws | _Stripe, Field(discriminator="kind")]] = Field(
        default_factory=dict)
    #: proofs
    expect: list[_Entry] = Field(default_factory=list)


def test_a_discriminated_union_lists_shared_keys_once_and_names_the_arm_of_the_others() -> None:
    assert keys(_Root) == [
        Key("secrets.NAME.kind", "`aws`, `stripe`", "required", "picks which keys below apply"),
        Key("secrets.NAME.description", "string", '`""`', "shared by every kind"),
        Key("secrets.NAME.user", "string", "required", "the IAM user (kind `aws`)"),
        Key("secrets.NAME.api_key", "reference", "required",
            "a Stripe key that may write endpoints (kind `stripe`)"),
        Key("expect[]", "table", "", "proofs"),
        Key("expect[].sql", "string", "required", ""),
        Key("expect[].min", "integer 0–10", "", ""),
    ]


def test_an_unknown_generated_block_is_an_error_naming_the_known_ones() -> None:
    text = "<!-- generated: nope by `python -m breakglass.docsgen` -->\n<!-- end of nope -->\n"
    with pytest.raises(ValueError, match=r"unknown generated block 'nope' \(known: config-keys"):
        docsgen.render(text)
