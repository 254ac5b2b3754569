"""Key groups that several secret kinds share, written once: how a generated value looks, where
consumers read a value (a store reference, or a KEY=value line of an env file on hosts).

A kind's settings model (its `Settings` class) inherits the groups it uses; the descriptions
and examples here are what docs/rotate.md's key table and the "is required" hints say.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from breakglass.config.base import NonEmpty
from breakglass.config.models import SecretSettings
from breakglass.secrets import ref_problem


class Generated(SecretSettings):
    """A value breakglass generates (`length` characters from `alphabet`)."""

    length: int = Field(32, ge=16, le=4096, description="length of a generated value")
    alphabet: NonEmpty | None = Field(
        None, description="the characters a generated value is made of (default: letters, "
                          "digits, - and _)")
    exclude_characters: str | None = Field(
        None, description="characters left out of the default alphabet")

    @model_validator(mode="after")
    def _one_alphabet(self) -> Generated:
        if self.alphabet is not None and self.exclude_characters is not None:
            raise PydanticCustomError("kind", "set alphabet or exclude_characters, not both")
        if self.alphabet is not None and len(set(self.alphabet)) < 10:
            raise PydanticCustomError("kind", "alphabet needs at least 10 distinct characters")
        return self


class StoredRef(SecretSettings):
    """A value consumers read from AWS (Secrets Manager or SSM Parameter Store)."""

    store: NonEmpty | None = Field(
        None, description='where consumers read the value: "aws-sm:NAME" or "ssm:NAME"',
        examples=["aws-sm:ci/aws-key"])

    @model_validator(mode="after")
    def _store_ref(self) -> StoredRef:
        if self.store is not None and not self.store.startswith(("aws-sm:", "ssm:")):
            raise PydanticCustomError("kind", 'store must be "aws-sm:SECRET_NAME" or '
                                              '"ssm:PARAMETER_NAME"')
        if self.store is not None and (problem := ref_problem(self.store)) is not None:
            raise PydanticCustomError("secret_ref", f"store: {problem}")
        return self


class EnvLine(SecretSettings):
    """A value consumers read from a KEY=value line of an env file on their hosts (over SSH)."""

    path: NonEmpty | None = Field(
        None, description="the env file on each host, absolute", examples=["/srv/app/.env"])
    key: NonEmpty | None = Field(None, description="the variable in it",
                                 examples=["SECRET_KEY"])
