"""Two "machines" sharing one state: project folders (each its own state_dir, the local cache)
whose configs name the same `s3://bucket/prefix/` on the test's moto server. What the bucket
holds is read back with boto3, never through breakglass."""

from __future__ import annotations

from pathlib import Path

from tests.servers.moto import MotoServer

PREFIX = "team/"


def make_bucket(aws: MotoServer, name: str = "team-state", *, object_lock: bool = False,
                versioned: bool = False, public_access_blocked: bool = False) -> str:
    """Create the state bucket; returns the `[project] state` URL."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if public_access_blocked:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
    return f"s3://{name}/{PREFIX}"


def share(config: Path, endpoint_url: str, url: str, *project_lines: str) -> None:
    """Point the project at the shared state `url`: `state` (and `project_lines`) go into
    [project], right after its state_dir; the S3 endpoint into [aws]. Called again, it adds
    `project_lines` only."""
    text = config.read_text()
    anchor = 'state_dir = "state"\n'
    assert anchor in text
    first = f'state = "{url}"\n' not in text
    extra = "".join(f"{line}\n" for line in ((f'state = "{url}"',) if first else ())
                    + project_lines)
    text = text.replace(anchor, anchor + extra, 1)
    if "[aws]" not in text:
        text += f'\n[aws]\nendpoint_url = "{endpoint_url}"\nregion = "us-east-1"\n'
    config.write_text(text)


def objects(aws: MotoServer, bucket: str = "team-state") -> dict[str, bytes]:
    """Every object of the bucket under the prefix: key (without the prefix) -> body."""
    s3 = aws.client("s3")
    out: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for item in page.get("Contents", ()):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            out[item["Key"][len(PREFIX):]] = body
    return out
