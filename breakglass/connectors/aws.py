"""boto3 sessions and clients built from `[aws]`, and the one place botocore errors become ours.
Every AWS client breakglass makes is made by `client` (the state bucket, backup stores, RDS,
the rotated secrets, `aws-sm:`/`ssm:` references, STS with a key being rotated).

`[aws] endpoint_url` points every client at an S3-compatible store or a local moto server (the
tests); `[aws] service_endpoints` one service elsewhere (CloudTrail, which moto lacks); `region`
and `profile` are passed to the boto3 Session. Credentials come from boto3's
usual chain (env, profile, instance role): breakglass never stores AWS keys in its config.

Credentials, one answer whichever command asks (docs/configuration.md, [aws]):

    [aws] profile names a profile ~/.aws/config lacks    ConfigError      exit 2 (the file is wrong)
    no credentials found, AWS_PROFILE unknown, partial   CouldNotVerify   exit 3 (AWS_CREDENTIALS)
    credentials refused, endpoint unreachable            CouldNotVerify   exit 3

Timeouts are short and retries few: a verifier that waits minutes on a dead endpoint is worse
than one that says "could not verify" quickly (botocore's defaults are 60 s and legacy retries).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from breakglass.errors import BreakglassError, ConfigError, CouldNotVerify

if TYPE_CHECKING:
    import boto3


class AwsSettings(Protocol):
    """What we read from `config.aws` (breakglass.config.AwsConfig)."""

    @property
    def region(self) -> str | None: ...
    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def profile(self) -> str | None: ...
    @property
    def service_endpoints(self) -> dict[str, str]: ...


# Error codes that mean "we cannot see the thing", as opposed to "the thing is wrong".
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
UNREACHABLE_CODES = frozenset({
    "NoSuchBucket", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "403", "404", "301", "PermanentRedirect",
    "AuthorizationHeaderMalformed",
})
# A 403 without a readable body (S3's HEAD) may be either: the credentials or the policy.
CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                              "InvalidToken", "AuthorizationHeaderMalformed", "403"})
# The caller is known and the call is refused by policy: not "unreachable", and the advice is
# the caller's IAM policy (https://docs.aws.amazon.com/IAM/latest/UserGuide/
# troubleshoot_access-denied.html). IAM and S3 say AccessDenied; most JSON APIs (Secrets
# Manager, SSM) AccessDeniedException; EC2-style APIs UnauthorizedOperation.
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
ACCESS_DENIED = "AWS_ACCESS_DENIED"


class AccessDenied(CouldNotVerify):
    """An AWS call refused by policy (code AWS_ACCESS_DENIED); `action` names what to grant."""


class Answer(BreakglassError):
    """An error answer the caller asked for by code (`translated(known=…)`): e.g. "no such
    secret" is a bad reference to `aws-sm:`, "invalid token" is the answer a rotation wants for
    a key it deleted. `aws_code` says which."""

    def __init__(self, aws_code: str, message: str) -> None:
        super().__init__(message)
        self.aws_code = aws_code


class WaitTimedOut(CouldNotVerify):
    """A boto3 waiter gave up (its attempts ran out, or it saw a failure state); `reason` is
    what AWS last said, or "timed out"."""

    def __init__(self, message: str, reason: str, *, code: str) -> None:
        super().__init__(message, code=code)
        self.reason = reason


@functools.cache
def _loader() -> Any:
    import botocore.loaders

    return botocore.loaders.create_loader()


def session(settings: AwsSettings | None) -> boto3.Session:
    """A new session (credentials resolved afresh) sharing one botocore data loader per
    process: a fresh loader re-reads the endpoint rules and the service model, 0.25-0.7 s per
    client on a busy 2-core machine against 0.04 s shared; a run with the state on S3 and its
    backups there makes several clients (bench/state_s3.py)."""
    import boto3
    import botocore.exceptions
    import botocore.session

    core = botocore.session.get_session()
    loader = _loader()
    core.register_component("data_loader", loader)
    try:
        sess = boto3.Session(botocore_session=core,
                             profile_name=settings.profile if settings else None,
                             region_name=settings.region if settings else None)
        # boto3 appends its own data folder to the loader's search paths on every session.
        loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
        core.get_scoped_config()  # an unknown profile fails here, not in the first client
        return sess
    except botocore.exceptions.ProfileNotFound as exc:
        if settings is not None and settings.profile:
            # The file names it: that is the file's mistake, whoever runs it.
            raise ConfigError(f"aws.profile: {settings.profile!r} is not a profile in "
                              "~/.aws/config; fix the name or add the profile") from None
        raise CouldNotVerify(f"AWS profile not found: {exc}", code="AWS_CREDENTIALS",
                             action="fix AWS_PROFILE or ~/.aws/config") from exc


def client(settings: AwsSettings | None, service: str, attempts: int = 2, *,
           region: str | None = None, read_timeout: float = 30,
           key: tuple[str, str] | None = None) -> Any:
    """A boto3 client for `service` honouring [aws] region/endpoint_url/profile. `attempts`:
    botocore's standard retry mode (transient errors, throttling, dropped connections).
    `region` wins over [aws] region (an `aws-sm:` ARN names its own); `key` (id, secret) signs
    with that key instead of the usual chain (STS asked whether a rotated key still works)."""
    from botocore.config import Config as BotoConfig

    endpoint = ((settings.service_endpoints.get(service) or settings.endpoint_url)
                if settings else None)
    cfg = BotoConfig(connect_timeout=5, read_timeout=read_timeout,
                     retries={"max_attempts": attempts, "mode": "standard"},
                     # Callers that care hash the bytes themselves and report a mismatch as a
                     # finding with evidence; botocore's own validation would raise mid-stream.
                     response_checksum_validation="when_required",
                     # S3-compatible stores and local servers are addressed by path: a bucket
                     # cannot be a subdomain of 127.0.0.1 or of most self-hosted endpoints.
                     s3={"addressing_style": "path"} if endpoint else None)
    sess = session(settings)
    region = region or (settings.region if settings else None) or sess.region_name or "us-east-1"
    signing = {"aws_access_key_id": key[0], "aws_secret_access_key": key[1]} if key else {}
    return sess.client(service, region_name=region,  # type: ignore[call-overload]
                       endpoint_url=endpoint, config=cfg, **signing)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (e.g. 'NoSuchKey'), else None."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    if isinstance(exc, Answer):
        return exc.aws_code
    return None


class Absent:
    """Whether the call inside `absent(…)` was answered "no such thing" (true) or not."""

    def __init__(self) -> None:
        self.missing = False

    def __bool__(self) -> bool:
        return self.missing


@contextmanager
def absent(*codes: str) -> Iterator[Absent]:
    """A "no such thing" answer (`codes`: ResourceNotFoundException, NoSuchEntity,
    DBInstanceNotFound, …) ends the block quietly and makes the yielded Absent true; any other
    error goes on (to `translated` around it). The caller says what absence means, without
    knowing botocore's exception classes:

        with aws.translated(what), aws.absent("ParameterNotFound") as missing:
            got = client.get_parameter(Name=name)
        if missing: ...
    """
    import botocore.exceptions as bx

    found = Absent()
    try:
        yield found
    except bx.ClientError as exc:
        if _error(exc)[0] not in codes:
            raise
        found.missing = True


@contextmanager
def translated(what: str, code: str = "AWS_UNREACHABLE", action: str = "",
               known: frozenset[str] = frozenset()) -> Iterator[None]:
    """Translate botocore errors raised inside the block into CouldNotVerify(code=…).

    The error answers whose code is in `known` become Answer(aws_code) first, for the caller to
    judge. Then the errors that mean "could not look" are translated (connection refused,
    timeouts, missing credentials, missing bucket, a waiter that gave up: WaitTimedOut) and a
    refusal by policy, which becomes AccessDenied (AWS_ACCESS_DENIED, whatever `code`); any
    other ClientError is re-raised for the connector that made the call (s3objects.py), which
    knows whether e.g. NoSuchKey is a finding or a normal answer."""
    import botocore.exceptions as bx

    try:
        try:
            yield
        except bx.ClientError as exc:
            ecode, msg = _error(exc)
            if ecode in known:
                raise Answer(ecode, f"{what}: {ecode}: {msg or ecode}") from None
            raise
        except bx.WaiterError as exc:  # a BotoCoreError: before the catch-all below
            reason = (exc.last_response or {}).get("Error", {}).get("Message") or "timed out"
            raise WaitTimedOut(f"{what}: {reason}", str(reason), code=code) from exc
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
            bx.ConnectionClosedError) as exc:
        raise CouldNotVerify(f"{what}: cannot connect ({exc})", code=code,
                             action=action or "check the endpoint/network and retry") from exc
    except (bx.NoCredentialsError, bx.PartialCredentialsError) as exc:
        raise CouldNotVerify(f"{what}: no AWS credentials ({exc})", code=code,
                             action=action or "provide AWS credentials (env, profile or role)"
                             ) from exc
    except bx.ClientError as exc:
        ecode, msg = _error(exc)
        if ecode in DENIED_CODES:
            raise AccessDenied(f"{what}: access denied to {exc.operation_name}: {msg}",
                               code=ACCESS_DENIED, action=f"allow {exc.operation_name} in the "
                               "IAM policy of the credentials breakglass runs with, then "
                               "retry") from exc
        if ecode in UNREACHABLE_CODES:
            advice = ("check the AWS credentials breakglass runs with and their IAM policy"
                      if ecode in CREDENTIAL_CODES else "check the name, region and endpoint")
            raise CouldNotVerify(f"{what}: {ecode}: {msg or ecode}", code=code,
                                 action=action or advice) from exc
        raise
    except bx.BotoCoreError as exc:
        raise CouldNotVerify(f"{what}: {exc}", code=code,
                             action=action or "check [aws] in breakglass.toml") from exc


def _error(exc: Any) -> tuple[str, str]:
    """(code, message) of a ClientError. When botocore could not parse the body (moto answers
    a JSON API's authorisation error in XML), the code is the HTTP status and the message the
    raw body: the XML's own <Code> and <Message> are read out of it."""
    err = exc.response.get("Error", {})
    code, msg = str(err.get("Code", "")), str(err.get("Message", ""))
    inner = re.search(r"<Code>([^<]*)</Code>", msg) if code.isdigit() else None
    if inner:
        said = re.search(r"<Message>([^<]*)</Message>", msg)
        code, msg = inner.group(1), said.group(1) if said else ""
    return code, msg


# -- what a key was used for (rotate --leaked: runbooks/rotate/exposure.py) ---------------------

#: LookupEvents answers 50 events a page at 2 calls a second per account: 20 pages is the most
#: a run waits for (~10 s); past that the count is "at least".
EVENT_PAGES = 20


def key_last_used(settings: AwsSettings | None, key_id: str, *, code: str) -> dict[str, Any]:
    """IAM GetAccessKeyLastUsed: {"at": ISO or None, "service", "region", "user"}. Any error
    is CouldNotVerify(`code`) (the key deleted, access denied, unreachable)."""
    with _all_translated(f"IAM GetAccessKeyLastUsed {key_id}", code):
        got = client(settings, "iam", read_timeout=10).get_access_key_last_used(
            AccessKeyId=key_id)
    used = got.get("AccessKeyLastUsed") or {}
    at = used.get("LastUsedDate")
    return {"at": at.isoformat() if at else None, "service": used.get("ServiceName"),
            "region": used.get("Region"), "user": got.get("UserName")}


def events_by_key(settings: AwsSettings | None, key_id: str, start: Any, end: Any, *,
                  code: str) -> tuple[list[dict[str, Any]], bool]:
    """CloudTrail LookupEvents by AccessKeyId between `start` and `end` (datetimes): each
    event as {"at", "name", "source", "ip", "agent", "user"}, and whether more were left
    unread (EVENT_PAGES). Any error is CouldNotVerify(`code`)."""
    import json

    trail = client(settings, "cloudtrail", read_timeout=15)
    out: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(EVENT_PAGES):
        args: dict[str, Any] = {"LookupAttributes": [{"AttributeKey": "AccessKeyId",
                                                      "AttributeValue": key_id}],
                                "StartTime": start, "EndTime": end, "MaxResults": 50}
        if token:
            args["NextToken"] = token
        with _all_translated(f"CloudTrail LookupEvents for {key_id}", code):
            page = trail.lookup_events(**args)
        for ev in page.get("Events") or []:
            try:
                detail = json.loads(ev.get("CloudTrailEvent") or "{}")
            except ValueError:
                detail = {}
            at = ev.get("EventTime")
            out.append({"at": at.isoformat() if at else None, "name": ev.get("EventName"),
                        "source": ev.get("EventSource"),
                        "ip": detail.get("sourceIPAddress"), "agent": detail.get("userAgent"),
                        "user": ev.get("Username")})
        token = page.get("NextToken")
        if not token:
            return out, False
    return out, True


@contextmanager
def _all_translated(what: str, code: str) -> Iterator[None]:
    """`translated`, and every other error answer too: for a read-only look whose every
    failure means the same thing to the caller ("could not look")."""
    import botocore.exceptions as bx

    try:
        with translated(what, code=code):
            yield
    except bx.ClientError as exc:
        ecode, msg = _error(exc)
        raise CouldNotVerify(f"{what}: {ecode}: {msg or ecode}", code=code,
                             action="check the name, region and the IAM policy of the "
                                    "credentials breakglass runs with") from exc
