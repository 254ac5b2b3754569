"""`s3://bucket/prefix/` stores (AWS S3 or anything S3-compatible via `[aws] endpoint_url`).

Listing does not return encryption or checksums, so `stat` HEADs one object with
ChecksumMode=ENABLED (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html).
Only a FULL_OBJECT SHA-256 is a hash of the bytes; a multipart upload's COMPOSITE checksum is a
hash of part hashes (value suffixed "-N") and is not compared.

Writing: a backup that fits in one part is sent with one PutObject at commit (atomic, and S3
keeps a FULL_OBJECT SHA-256 of it); a larger one goes through a multipart upload completed last,
so the key does not exist until every part is in. An interrupted upload leaves only an
incomplete multipart upload, which `discard_partial` aborts (ending its storage charge too).
Every part carries a SHA-256 that S3 checks on receipt.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any, cast
from urllib.parse import SplitResult

from breakglass.connectors import aws
from breakglass.recovery.manifest import Manifest, manifest_key, parse_manifest
from breakglass.recovery.stores.base import (
    STORE_UNREACHABLE,
    BackupObject,
    BackupStore,
    Upload,
    is_backup_name,
)

#: 8 MiB: above S3's 5 MiB minimum part size; 10,000 parts then allow 80 GB (raise for more)
PART_SIZE = 8 << 20
#: breakglass encryption setting -> S3 ServerSideEncryption
SSE_OF = {"sse-s3": "AES256", "sse-kms": "aws:kms"}

_MULTIPART_ETAG = re.compile(r'-\d+"?$')


class S3Store(BackupStore):
    scheme = "s3"
    example = "s3://bucket/prefix/"
    summary = "AWS S3, or anything S3-compatible through `[aws] endpoint_url`"
    uses_aws = server_side_encryption = True

    @classmethod
    def url_problem(cls, parsed: SplitResult) -> str | None:
        return None if parsed.netloc else "an s3:// store needs a bucket (s3://bucket/prefix/)"

    @classmethod
    def from_url(cls, url: str, parsed: SplitResult,
                 aws_settings: aws.AwsSettings | None) -> S3Store:
        prefix = parsed.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(url, parsed.netloc, prefix, aws_settings)

    def __init__(self, url: str, bucket: str, prefix: str,
                 settings: aws.AwsSettings | None) -> None:
        self.url = url
        self.bucket = bucket
        self.prefix = prefix
        self._settings = settings
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._errors("cannot create the S3 client"):
                self._client = aws.client(self._settings, "s3")
        return self._client

    def _errors(self, what: str) -> Any:
        return aws.translated(f"{self.url}: {what}", code=STORE_UNREACHABLE,
                              action="check the bucket, [aws] settings, credentials and the "
                                     "IAM policy (s3:ListBucket, s3:GetObject)")

    def _full_key(self, key: str) -> str:
        return self.prefix + key

    def list_backups(self) -> list[BackupObject]:
        objs: list[BackupObject] = []
        with self._errors("cannot list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix):]
                    if is_backup_name(key):
                        objs.append(BackupObject(
                            key=key, size=int(item["Size"]),
                            modified=item["LastModified"].astimezone(UTC),
                            etag=str(item.get("ETag", "")).strip('"') or None, detailed=False))
        return sorted(objs, key=lambda o: (o.modified, o.key))

    def stat(self, key: str) -> BackupObject:
        with self._errors(f"cannot HEAD {key}"):
            head = self.client.head_object(Bucket=self.bucket, Key=self._full_key(key),
                                           ChecksumMode="ENABLED")
        etag = str(head.get("ETag", ""))
        return BackupObject(
            key=key, size=int(head["ContentLength"]),
            modified=cast(datetime, head["LastModified"]).astimezone(UTC),
            etag=etag.strip('"') or None,
            checksum_sha256=_full_object_sha256(head, etag),
            server_side_encryption=head.get("ServerSideEncryption"),
        )

    @contextmanager
    def open(self, key: str) -> Iterator[IO[bytes]]:
        with self._errors(f"cannot GET {key}"):
            resp = self.client.get_object(Bucket=self.bucket, Key=self._full_key(key))
        body = resp["Body"]  # botocore StreamingBody: read(n) streams from the socket
        try:
            # errors while the caller reads the stream (reset, timeout) are translated too
            with self._errors(f"reading {key} failed"):
                yield cast(IO[bytes], body)
        finally:
            body.close()

    def read_head(self, key: str, n: int) -> bytes:
        with self._errors(f"cannot GET {key}"):
            resp = self.client.get_object(Bucket=self.bucket, Key=self._full_key(key),
                                          Range=f"bytes=0-{n - 1}")
            return cast(bytes, resp["Body"].read())

    def read_manifest(self, key: str) -> Manifest | None:
        try:
            with self._errors(f"cannot GET {manifest_key(key)}"):
                resp = self.client.get_object(Bucket=self.bucket,
                                              Key=self._full_key(manifest_key(key)))
                data = resp["Body"].read()
        except Exception as exc:
            if aws.error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return parse_manifest(data, key)

    # -- write API ------------------------------------------------------------------------
    def _write_errors(self, what: str) -> Any:
        return aws.translated(f"{self.url}: {what}", code="STORE_WRITE_FAILED",
                              action="check the bucket, credentials and the IAM policy "
                                     "(s3:PutObject, s3:AbortMultipartUpload, s3:DeleteObject)")

    def begin(self, key: str, encryption: str = "none") -> Upload:
        return S3Upload(self, key, encryption)

    def put_manifest(self, key: str, manifest: Manifest) -> None:
        with self._write_errors(f"writing {manifest_key(key)}"):
            self.client.put_object(Bucket=self.bucket, Key=self._full_key(manifest_key(key)),
                                   Body=manifest.to_json().encode(), ContentType="application/json",
                                   ChecksumAlgorithm="SHA256")

    def delete(self, key: str) -> None:
        # DeleteObject of a missing key succeeds (S3 semantics): idempotent as promised.
        with self._write_errors(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=self._full_key(key))
            self.client.delete_object(Bucket=self.bucket, Key=self._full_key(manifest_key(key)))

    def _incomplete(self, key: str) -> list[str]:
        full = self._full_key(key)
        with self._errors("cannot list multipart uploads"):
            resp = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=full)
        return [str(u["UploadId"]) for u in resp.get("Uploads", []) if u.get("Key") == full]

    def partials(self, key: str) -> int:
        return len(self._incomplete(key))

    def discard_partial(self, key: str) -> int:
        ids = self._incomplete(key)
        for upload_id in ids:
            with self._write_errors(f"aborting an incomplete upload of {key}"):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._full_key(key),
                                                   UploadId=upload_id)
        return len(ids)

    def retention_policy_days(self) -> int | None:
        """The shortest enabled lifecycle Expiration (Days) among rules that apply to objects
        under our prefix; None when no rule expires them.
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html"""
        try:
            with self._errors("cannot read the lifecycle configuration"):
                rules = self.client.get_bucket_lifecycle_configuration(
                    Bucket=self.bucket).get("Rules", [])
        except Exception as exc:
            if aws.error_code(exc) == "NoSuchLifecycleConfiguration":
                return None
            raise
        days = [int(r["Expiration"]["Days"]) for r in rules
                if r.get("Status") == "Enabled" and "Days" in r.get("Expiration", {})
                and _rule_applies(r, self.prefix)]
        return min(days) if days else None

    def default_encryption(self) -> str | None:
        try:
            with self._errors("cannot read the bucket encryption"):
                conf = self.client.get_bucket_encryption(Bucket=self.bucket)
        except Exception as exc:
            if aws.error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
                return None
            raise
        for rule in conf.get("ServerSideEncryptionConfiguration", {}).get("Rules", []):
            algo = rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
            if algo:
                return str(algo)
        return None


class S3Upload(Upload):
    def __init__(self, store: S3Store, key: str, encryption: str) -> None:
        self.key = key
        self.written = 0
        self._store = store
        self._sse = {"ServerSideEncryption": SSE_OF[encryption]} if encryption in SSE_OF else {}
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False
        self._aborted = False

    @property
    def committed(self) -> bool:
        return self._done

    def _target(self) -> dict[str, str]:
        return {"Bucket": self._store.bucket, "Key": self._store._full_key(self.key)}

    def write(self, data: bytes) -> int:
        self._buf += data
        self.written += len(data)
        while len(self._buf) >= 2 * PART_SIZE:  # keep >= one part back for the last one
            self._send_part(bytes(self._buf[:PART_SIZE]))
            del self._buf[:PART_SIZE]
        return len(data)

    def _send_part(self, body: bytes) -> None:
        client = self._store.client
        with self._store._write_errors(f"uploading {self.key}"):
            if self._upload_id is None:
                self._upload_id = str(client.create_multipart_upload(
                    **self._target(), ChecksumAlgorithm="SHA256", **self._sse)["UploadId"])
            number = len(self._parts) + 1
            resp = client.upload_part(**self._target(), UploadId=self._upload_id,
                                      PartNumber=number, Body=body, ChecksumAlgorithm="SHA256")
        self._parts.append({"PartNumber": number, "ETag": resp["ETag"],
                            **({"ChecksumSHA256": resp["ChecksumSHA256"]}
                               if resp.get("ChecksumSHA256") else {})})

    def commit(self) -> BackupObject:
        client = self._store.client
        if self._upload_id is None:
            with self._store._write_errors(f"uploading {self.key}"):
                client.put_object(**self._target(), Body=bytes(self._buf),
                                  ChecksumAlgorithm="SHA256", **self._sse)
        else:
            if self._buf:
                self._send_part(bytes(self._buf))
            with self._store._write_errors(f"completing the upload of {self.key}"):
                client.complete_multipart_upload(**self._target(), UploadId=self._upload_id,
                                                 MultipartUpload={"Parts": self._parts})
        self._buf.clear()
        self._done = True
        return self._store.stat(self.key)

    def abort(self) -> None:
        if self._done or self._aborted:
            return
        self._aborted = True
        self._buf.clear()
        if self._upload_id is not None:
            # Best effort: a failed abort leaves an incomplete upload that discard_partial (the
            # next run, or runs.resume) finds and aborts.
            with contextlib.suppress(Exception):
                self._store.client.abort_multipart_upload(**self._target(),
                                                          UploadId=self._upload_id)


def _rule_prefix(rule: dict[str, Any]) -> str:
    # Rules carry the prefix in Filter.Prefix, Filter.And.Prefix or the legacy top-level Prefix.
    flt = rule.get("Filter", {})
    return str(flt.get("Prefix", flt.get("And", {}).get("Prefix", rule.get("Prefix", ""))))


def _rule_applies(rule: dict[str, Any], prefix: str) -> bool:
    """A rule applies when its prefix contains ours or lies under it (then it deletes some of
    our backups). Tag and size filters are ignored: we cannot know they spare backups."""
    rp = _rule_prefix(rule)
    return prefix.startswith(rp) or rp.startswith(prefix)


def _full_object_sha256(head: dict[str, Any], etag: str) -> str | None:
    value = head.get("ChecksumSHA256")
    if not value or "-" in value:
        return None
    ctype = head.get("ChecksumType")
    # Without ChecksumType (older S3 APIs, moto), a multipart ETag ("…-N") means the checksum is
    # composite; only a single-part upload's checksum is the hash of the bytes.
    if ctype is not None and ctype != "FULL_OBJECT":
        return None
    if ctype is None and _MULTIPART_ETAG.search(etag):
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None
