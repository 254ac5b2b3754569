"""Secret references: the config holds `env:NAME`, `file:PATH`, `aws-sm:ARN_OR_NAME[#jsonkey]` or
`ssm:NAME`, never a value (DESIGN principle 5). `Secrets.resolve(ref)` fetches the value lazily,
registers it with the run's redactor *before* returning it, and caches it for the process.

Errors are one line naming the reference and what to do; they never contain the value. AWS is
reached through connectors/aws.py (the client every command builds, the errors it translates):

    not set / not found / not JSON / no such key / unknown [aws] profile   exit 2
    no AWS credentials, refused, access denied, unreachable, throttled      CouldNotVerify  exit 3

(a missing or refused credential and a service that is down are "could not verify": the
reference may be right; the same answer as every other AWS call). boto3 is imported by the
connector when a reference needs it: the CLI imports this module at start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from breakglass.connectors import aws
from breakglass.connectors.files import NotAFile, read_regular
from breakglass.errors import CouldNotVerify, SecretRefError

if TYPE_CHECKING:
    from breakglass.config import Config
    from breakglass.engine.redaction import Redactor

SCHEMES = ("env", "file", "aws-sm", "ssm")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# "word:" at the start, not followed by "//" (that is a URL such as postgresql://u:p@h/db).
_SCHEME_LIKE = re.compile(r"([a-z][a-z0-9-]{1,15}):(?!//)")
EXAMPLES = "env:NAME, file:PATH, aws-sm:ARN_OR_NAME[#key] or ssm:NAME"


@dataclass(frozen=True)
class SecretRef:
    scheme: str
    target: str  # env var name, file path, secret ARN/name, parameter name
    key: str | None = None  # aws-sm only: a key inside a JSON secret

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}" + (f"#{self.key}" if self.key else "")


def parse_ref(text: str) -> SecretRef | None:
    """The reference in `text`, or None when `text` is not written as a reference at all.
    A reference with a bad shape (`env:` with no name) raises SecretRefError."""
    scheme, _, rest = text.partition(":")
    if parse_ref_scheme(text) is None:
        return None
    problem = _shape_problem(scheme, rest)
    if problem:
        raise SecretRefError(problem)
    if scheme == "aws-sm" and "#" in rest:
        target, _, key = rest.partition("#")
        return SecretRef(scheme, target, key)
    return SecretRef(scheme, rest)


# What the target of a reference never holds and a secret value pasted after the prefix does:
# a URL ("env:postgresql://app:PASSWORD@db/prod"), user:password@host, a key=value DSN, a PEM
# block, whitespace, or the well-known prefix of a vendor's key.
_VALUE_SIGNS = re.compile(
    r"://|\s|-----BEGIN|password=|^[^@/:]+:[^@/:]*@|\b[sr]k_(live|test)_|\bwhsec_|"
    r"\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_|\bxox[abpr]-", re.IGNORECASE)
# The names AWS accepts for a secret or parameter, and their ARNs ("#key" is ours).
_AWS_NAME = re.compile(r"[A-Za-z0-9/_+=.@:#-]+")
# A near-miss of an env var name ("MY-VAR", "1X"): safe to show; anything else is not.
_NAME_LIKE = re.compile(r"[A-Za-z0-9_.-]{1,40}")
LOOKS_LIKE_VALUE = ("this looks like a secret value, not a reference: put the value in an "
                    "environment variable or a file and write env:NAME or file:PATH "
                    "(the value is not shown)")


def _looks_like_value(scheme: str, rest: str) -> bool:
    if _VALUE_SIGNS.search(rest):
        return True
    if scheme == "env":
        return not _ENV_NAME.fullmatch(rest) and not _NAME_LIKE.fullmatch(rest)
    if scheme in ("aws-sm", "ssm"):
        return not _AWS_NAME.fullmatch(rest)
    return False


def _shape_problem(scheme: str, rest: str) -> str | None:
    if not rest.strip():
        return f'"{scheme}:" names nothing (use {EXAMPLES})'
    if _looks_like_value(scheme, rest):
        return LOOKS_LIKE_VALUE
    if scheme == "env" and not _ENV_NAME.fullmatch(rest):
        shown = json.dumps(f"env:{rest[:40]}", ensure_ascii=False)
        return f"{shown} is not an environment variable name (letters, digits, _)"
    if scheme == "aws-sm" and rest.endswith("#"):
        shown = json.dumps(f"aws-sm:{rest[:60]}", ensure_ascii=False)
        return f'{shown} has an empty JSON key after "#"'
    return None


def parse_ref_scheme(text: str) -> str | None:
    """The scheme `text` is written with ("env" for "env:…"), or None."""
    scheme, sep, _ = text.partition(":")
    return scheme if sep and scheme in SCHEMES else None


def is_ref(text: str) -> bool:
    """True when `text` is a well-formed secret reference."""
    try:
        return parse_ref(text) is not None
    except SecretRefError:
        return False


def ref_problem(text: str) -> str | None:
    """Why `text` cannot stand where a secret reference is required, or None when it can.
    Never echoes `text` unless it is shaped like a reference (a literal may be the secret)."""
    try:
        if parse_ref(text) is not None:
            return None
    except SecretRefError as exc:
        return str(exc)
    unknown = _SCHEME_LIKE.match(text)
    if unknown and len(text) < 200 and " " not in text:
        return f'unknown secret reference scheme "{unknown.group(1)}:" (use {EXAMPLES})'
    return ("a literal value is not allowed here: put the secret in an environment variable or a "
            'file and reference it, e.g. "env:NAME" or "file:/run/secrets/NAME" '
            "(aws-sm:NAME and ssm:NAME work too)")


class SecretResolver(Protocol):
    """What a step, a check or a notifier is given to read secrets with (StepContext.secrets)."""

    def resolve(self, ref: str) -> str:
        """Resolve an `env:`/`file:`/`aws-sm:`/`ssm:` reference; the value is registered with
        the run's redactor before it is returned."""
        ...


class Secrets:
    """Resolves references for one process (one CLI invocation). Implements SecretResolver.
    `environ` is injectable for tests; the default is os.environ."""

    def __init__(self, config: Config, redactor: Redactor,
                 environ: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._redactor = redactor
        self._environ = os.environ if environ is None else environ
        self._cache: dict[str, str] = {}
        self._clients: dict[str, Any] = {}

    def resolve(self, ref: str) -> str:
        if ref in self._cache:
            return self._cache[ref]
        parsed = parse_ref(ref)
        if parsed is None:
            raise SecretRefError(ref_problem(ref) or f"not a secret reference (use {EXAMPLES})")
        value = _FETCHERS[parsed.scheme](self, parsed)
        if not value:
            raise SecretRefError(f"{parsed} is empty; put the secret there")
        # Registered before anyone sees it: from here on no output can carry it.
        self._redactor.register(value)
        self._cache[ref] = value
        return value

    def describe(self, ref: str) -> str:
        """A masked, human description: `env:DATABASE_URL (set, 52 chars)`. Resolves the
        reference; a failure is described rather than raised."""
        try:
            value = self.resolve(ref)
        except (SecretRefError, CouldNotVerify) as exc:
            return f"{ref} (unresolved: {exc})"
        return f"{ref} (set, {len(value)} chars)"

    # -- fetchers -------------------------------------------------------------------------------

    def _env(self, ref: SecretRef) -> str:
        if ref.target not in self._environ:
            raise SecretRefError(f"env var {ref.target} is not set")
        return self._environ[ref.target]

    def _file(self, ref: SecretRef) -> str:
        path = Path(ref.target).expanduser()
        if not path.is_absolute():
            # Relative to the config file, like state_dir: the same file works from any cwd.
            base = self._config.path.parent if self._config.path else Path.cwd()
            path = base / path
        try:
            text = read_regular(path).decode("utf-8")
        except FileNotFoundError:
            raise SecretRefError(f"file {path} (from {ref}) does not exist") from None
        except NotAFile as exc:
            raise SecretRefError(f"file {path} (from {ref}) {exc}") from None
        except PermissionError:
            raise SecretRefError(f"file {path} (from {ref}) is not readable (permission denied)"
                                 ) from None
        except UnicodeDecodeError:
            raise SecretRefError(f"file {path} (from {ref}) is not UTF-8 text") from None
        except OSError as exc:
            raise SecretRefError(f"file {path} (from {ref}) cannot be read: {exc.strerror}"
                                 ) from None
        # Editors add a final newline; it is never part of the secret.
        return text.removesuffix("\n").removesuffix("\r")

    def _aws_sm(self, ref: SecretRef) -> str:
        client = self._aws_client("secretsmanager", ref)
        with _aws_errors(ref):
            # AWSCURRENT explicitly: without a stage moto may return a stale version, and being
            # explicit documents which version a rotation expects consumers to read.
            resp = client.get_secret_value(SecretId=ref.target, VersionStage="AWSCURRENT")
        if "SecretString" in resp:
            value: str = resp["SecretString"]
        else:
            try:
                value = bytes(resp["SecretBinary"]).decode("utf-8")
            except UnicodeDecodeError:
                raise SecretRefError(f"{ref} is a binary secret that is not UTF-8 text") from None
        if ref.key is None:
            return value
        try:
            doc = json.loads(value)
        except ValueError:
            raise SecretRefError(f"{ref}: the secret is not JSON, so it has no key "
                                 f'"{ref.key}" (drop "#{ref.key}")') from None
        if not isinstance(doc, dict) or ref.key not in doc:
            raise SecretRefError(f'{ref}: the JSON secret has no key "{ref.key}"')
        item = doc[ref.key]
        if not isinstance(item, str):
            # Numbers (a port) are fine as text; nested objects are not a secret value.
            if isinstance(item, dict | list) or item is None:
                raise SecretRefError(f'{ref}: key "{ref.key}" is not a string')
            item = json.dumps(item)
        return item

    def _ssm(self, ref: SecretRef) -> str:
        client = self._aws_client("ssm", ref)
        with _aws_errors(ref):
            resp = client.get_parameter(Name=ref.target, WithDecryption=True)
        return str(resp["Parameter"]["Value"])

    def _aws_client(self, service: str, ref: SecretRef) -> Any:
        region = self._config.aws.region or _region_from_arn(ref.target)
        cache_key = f"{service}@{region}"
        if cache_key not in self._clients:
            # A secret lookup should fail fast when AWS is unreachable, not retry for minutes.
            self._clients[cache_key] = aws.client(self._config.aws, service, region=region,
                                                  read_timeout=10)
        return self._clients[cache_key]


_FETCHERS = {"env": Secrets._env, "file": Secrets._file, "aws-sm": Secrets._aws_sm,
             "ssm": Secrets._ssm}


def _region_from_arn(target: str) -> str | None:
    # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME
    parts = target.split(":")
    if len(parts) > 4 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return None


#: AWS's answers for a reference that names nothing usable: the reference is wrong (exit 2)
_NOT_FOUND = frozenset({"ResourceNotFoundException", "ParameterNotFound"})
_NO_VALUE = "InvalidRequestException"  # a secret scheduled for deletion, or without a value


@contextlib.contextmanager
def _aws_errors(ref: SecretRef) -> Iterator[None]:
    """AWS errors as one line naming the reference: a name that does not exist is a
    SecretRefError; unreachable, refused or no credentials is CouldNotVerify
    (connectors/aws.py)."""
    try:
        with aws.translated(str(ref), code="SECRET_UNREACHABLE", known=_NOT_FOUND | {_NO_VALUE},
                            action="check the AWS credentials breakglass runs with, [aws] "
                                   "and the network"):
            yield
    except aws.Answer as exc:
        if exc.aws_code == _NO_VALUE:
            raise SecretRefError(f"{ref}: the secret has no current value ({_NO_VALUE})"
                                 ) from None
        raise SecretRefError(f"{ref} does not exist (check the name and [aws] region)"
                             ) from None
