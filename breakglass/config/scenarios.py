"""[drills.scenarios]: the seed's §14 failure scenarios against a staging app
(`breakglass drill.scenarios`, docs/drill-scenarios.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from breakglass.config.base import Section, http_url


class ScenariosConfig(Section):
    #: the app under test: a staging URL (a production one is refused unless told explicitly)
    base_url: Annotated[str, AfterValidator(http_url)]
