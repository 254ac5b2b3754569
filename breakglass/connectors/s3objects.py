"""Objects under one S3 prefix with conditional writes: the shared state's storage.

S3 has been strongly consistent since 2020 and has conditional writes: `If-None-Match: *`
creates an object only if the key is free, `If-Match: ETAG` replaces it only if nobody else did
since we read it (HTTP 412 otherwise; 409 when two conditional writes race). That is enough for
leases and for append-only journals without DynamoDB — the way Terraform >= 1.10 and OpenTofu
lock state in S3 (`use_lockfile`).
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html

Retries: botocore's "standard" mode retries 500, 503 SlowDown, throttling and dropped
connections with backoff. A retried conditional write whose first attempt did land gets 412 —
its own earlier write changed the ETag — so `put` then reads the object back: when it holds
exactly the bytes we sent, the write is ours and succeeded. Callers make every body unique (a
journal's hash chain, a lease's nonce), so equal bytes cannot be someone else's write.

Every botocore error is translated here (DESIGN: vendor errors stop at the connectors):
unreachable -> CouldNotVerify(STATE_UNREACHABLE, exit 3), refused by policy -> AccessDenied
(exit 3, naming the action to allow), a missing bucket -> UsageError (exit 2), a lost condition
-> `Conflict`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from breakglass.connectors import aws
from breakglass.errors import CouldNotVerify, UsageError

STATE_UNREACHABLE = "STATE_UNREACHABLE"
#: attempts per call in botocore's standard retry mode (backoff with jitter, base 50 ms)
ATTEMPTS = 6


class Conflict(Exception):
    """A conditional write lost: the object is not (or no longer) what the writer expected.
    `retried`: botocore sent the request more than once (or cannot say), so the loss may be
    to our own earlier attempt."""

    def __init__(self, message: str, *, retried: bool = True) -> None:
        super().__init__(message)
        self.retried = retried


@dataclass(frozen=True)
class Obj:
    key: str
    etag: str
    body: bytes


@dataclass(frozen=True)
class Listed:
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class BucketFacts:
    versioning: bool
    object_lock: bool
    #: the four Block Public Access settings all on (bucket-level)
    public_access_blocked: bool
    #: the bucket's default retention ("GOVERNANCE 30 days"), "" when none
    default_retention: str


class Bucket:
    """One bucket and prefix. Keys given to and returned by methods are relative to `prefix`."""

    def __init__(self, settings: aws.AwsSettings | None, bucket: str, prefix: str,
                 url: str) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.url = url
        self._settings = settings
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            with self.errors("cannot create the S3 client"):
                self._client = aws.client(self._settings, "s3", attempts=ATTEMPTS)
        return self._client

    def full(self, key: str) -> str:
        return self.prefix + key

    @contextlib.contextmanager
    def errors(self, what: str, *, conditional: bool = False) -> Iterator[None]:
        import botocore.exceptions as bx

        action = (f"check that {self.url} is reachable with the AWS credentials breakglass runs "
                  "with; in an emergency, run with --local-state and `breakglass state.push` "
                  "later (docs/state.md)")
        try:
            with aws.translated(f"{what} ({self.url})", code=STATE_UNREACHABLE, action=action):
                yield
        except CouldNotVerify as exc:
            if exc.__cause__ is not None and aws.error_code(exc.__cause__) == "NoSuchBucket":
                raise UsageError(f"[project] state: bucket {self.bucket!r} does not exist; "
                                 "create it (docs/state.md: bucket settings) or fix the "
                                 "bucket name") from None
            raise
        except bx.ClientError as exc:
            code = aws.error_code(exc) or ""
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409") or (
                    # If-Match on a key that is gone: S3 answers 404, not 412; the object is
                    # not what the writer expected either
                    conditional and code == "NoSuchKey"):
                attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts")
                raise Conflict(f"{what}: {code}", retried=attempts != 0) from None
            raise CouldNotVerify(f"{what} ({self.url}): {code}: {exc}", code=STATE_UNREACHABLE,
                                 action=action) from exc

    # -- reading ----------------------------------------------------------------------------
    def presigned_get(self, key: str, seconds: int) -> str:
        """A URL that reads `key` without credentials for `seconds` (signed here, offline)."""
        with self.errors(f"cannot sign a link to {key}"):
            return str(self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self.full(key)},
                ExpiresIn=seconds))

    def get(self, key: str) -> Obj | None:
        """The object, or None when there is none."""
        import botocore.exceptions as bx

        with self.errors(f"cannot read {key}"):
            try:
                resp = self.client.get_object(Bucket=self.bucket, Key=self.full(key))
            except bx.ClientError as exc:
                if aws.error_code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
            return Obj(key, str(resp["ETag"]), resp["Body"].read())

    def listing(self, sub: str = "", after: str = "") -> list[Listed]:
        """Every object whose key starts with `sub` (and, with `after`, sorts after that key),
        in key order (one request per 1,000)."""
        out: list[Listed] = []
        extra = {"StartAfter": self.full(after)} if after else {}
        with self.errors(f"cannot list {sub or 'the state'}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.full(sub), **extra)
            for page in pages:
                for item in page.get("Contents", ()):
                    out.append(Listed(str(item["Key"])[len(self.prefix):], str(item["ETag"]),
                                      int(item["Size"])))
        return out

    def any_object(self) -> bool:
        with self.errors("cannot list the state prefix"):
            resp = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix,
                                               MaxKeys=1)
        return bool(resp.get("KeyCount"))

    def versions(self, key: str) -> list[tuple[str, int]]:
        """(version id, size) of every version of `key`, oldest first; [] when not versioned."""
        # S3 lists a key's versions newest first. Not sorted by LastModified: it has
        # millisecond resolution, and two appends within one millisecond would swap places.
        # https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html
        out: list[tuple[str, int]] = []
        with self.errors(f"cannot list the versions of {key}"):
            pages = self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=self.full(key))
            for page in pages:
                for v in page.get("Versions", ()):
                    if v["Key"] == self.full(key) and v.get("VersionId") not in (None, "null"):
                        out.append((str(v["VersionId"]), int(v["Size"])))
        return out[::-1]

    def get_version(self, key: str, version_id: str) -> bytes:
        with self.errors(f"cannot read a version of {key}"):
            resp = self.client.get_object(Bucket=self.bucket, Key=self.full(key),
                                          VersionId=version_id)
            return bytes(resp["Body"].read())

    def retention(self, key: str) -> datetime | None:
        """Until when Object Lock retains the current version of `key`; None when it does not.
        Read with HeadObject, which returns the version's retention to a caller allowed
        s3:GetObjectRetention (one request; moto implements it, not GetObjectRetention)."""
        import botocore.exceptions as bx

        with self.errors(f"cannot read the retention of {key}"):
            try:
                resp = self.client.head_object(Bucket=self.bucket, Key=self.full(key))
            except bx.ClientError as exc:
                if aws.error_code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
        until = resp.get("ObjectLockRetainUntilDate")
        return until if isinstance(until, datetime) else None

    def facts(self) -> BucketFacts:
        import botocore.exceptions as bx

        c = self.client
        with self.errors("cannot read the state bucket's settings"):
            versioning = c.get_bucket_versioning(Bucket=self.bucket).get("Status") == "Enabled"
            try:
                lock = c.get_object_lock_configuration(Bucket=self.bucket).get(
                    "ObjectLockConfiguration", {})
            except bx.ClientError as exc:
                if aws.error_code(exc) != "ObjectLockConfigurationNotFoundError":
                    raise
                lock = {}
            try:
                pab = c.get_public_access_block(Bucket=self.bucket).get(
                    "PublicAccessBlockConfiguration", {})
            except bx.ClientError as exc:
                if aws.error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                    raise
                pab = {}
        rule = (lock.get("Rule") or {}).get("DefaultRetention") or {}
        default = " ".join(str(x) for x in (rule.get("Mode"), rule.get("Days") or
                                            rule.get("Years")) if x)
        keys = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                "RestrictPublicBuckets")
        return BucketFacts(versioning=versioning,
                           object_lock=lock.get("ObjectLockEnabled") == "Enabled",
                           public_access_blocked=all(pab.get(k) is True for k in keys),
                           default_retention=default)

    # -- writing ----------------------------------------------------------------------------
    def put(self, key: str, body: bytes, *, if_match: str | None = None,
            create_only: bool = False, retain_until: datetime | None = None) -> str:
        """Write `body`; returns the new ETag. `create_only`: only if the key is free;
        `if_match`: only if the object still has that ETag. Raises Conflict when the condition
        fails (and the object does not already hold exactly `body`)."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self.full(key), "Body": body}
        if create_only:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = if_match
        if retain_until is not None:
            # GOVERNANCE: nobody rewrites the evidence by accident or with ordinary rights;
            # a bucket's default retention in COMPLIANCE mode is the stronger choice (docs).
            kwargs.update(ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=retain_until)
        try:
            with self.errors(f"cannot write {key}", conditional=if_match is not None):
                resp = self.client.put_object(**kwargs)
        except Conflict as exc:
            if not (create_only or if_match) or not exc.retried:
                raise
            # A retried attempt whose first try landed (module docstring).
            current = self.get(key)
            if current is not None and current.body == body:
                return current.etag
            raise
        return str(resp["ETag"])

    def delete(self, key: str) -> None:
        with self.errors(f"cannot delete {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=self.full(key))
