"""ops.state_bucket: the shared state's bucket keeps its evidence (docs/checks/ops.md).

With `[project] state = "s3://…"`, journals, attestations and reports live in one bucket; they
are evidence only if nobody can rewrite them unseen and nobody outside can read them:

    versioning off                   FAILED  STATE_BUCKET_NOT_VERSIONED (a rewrite leaves no trace)
    no Object Lock                   FAILED  STATE_BUCKET_NO_OBJECT_LOCK (anyone with write
                                             access can rewrite or delete the evidence)
    Block Public Access not all on   FAILED  STATE_BUCKET_PUBLIC_ACCESS
    the settings cannot be read      UNVERIFIED  STATE_UNREACHABLE (exit 3)
    the state is local               passes with a note (STATE_LOCAL): nothing to check

Object Lock can only be turned on when a bucket is created (or by AWS support), which is why
the action for it names a new bucket and `breakglass state.push`.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html
"""

from __future__ import annotations

from typing import Any

from breakglass.checklist.items import BY_ID
from breakglass.checklist.model import CheckContext, CheckResult, check
from breakglass.engine.findings import Finding, Outcome, Severity, unverified

ITEM = "ops.state_bucket"


@check(ITEM)
def state_bucket(ctx: CheckContext) -> CheckResult:
    from breakglass.state import open_state
    from breakglass.state.s3 import S3State

    url = ctx.config.project.state
    if url is None:
        evidence: dict[str, Any] = {"state": "local"}
        return CheckResult([Finding(
            "STATE_LOCAL", f"{ITEM} does not apply: the state is local ({ctx.state_dir})",
            "nothing to do; to share runs and evidence with the team, set [project] state = "
            '"s3://bucket/prefix/" (docs/state.md)', Severity.INFO, subject=ITEM)], evidence)
    state = open_state(ctx.config)
    if not isinstance(state, S3State):  # --local-state: this process does not reach it
        return CheckResult([unverified("STATE_NOT_CHECKED", f"{url} was not read (--local-state)",
                                       "run `breakglass check` without --local-state", ITEM)])
    facts = state.bucket.facts()
    evidence = {"bucket": state.bucket.bucket, "versioning": facts.versioning,
                "object_lock": facts.object_lock, "default_retention": facts.default_retention,
                "public_access_blocked": facts.public_access_blocked}
    bucket = state.bucket.bucket
    findings: list[Finding] = []
    if not facts.versioning:
        findings.append(_failed("STATE_BUCKET_NOT_VERSIONED", f"bucket {bucket} has no "
                                "versioning: a journal rewritten in the bucket leaves no trace",
                                f"aws s3api put-bucket-versioning --bucket {bucket} "
                                "--versioning-configuration Status=Enabled", evidence))
    if not facts.object_lock:
        findings.append(_failed("STATE_BUCKET_NO_OBJECT_LOCK", f"bucket {bucket} has no Object "
                                "Lock: whoever can write it can rewrite or delete the evidence",
                                "create a bucket with Object Lock (only possible at creation), "
                                "point [project] state at it, set evidence_retention and run "
                                "`breakglass state.push` (docs/state.md)", evidence))
    if not facts.public_access_blocked:
        findings.append(_failed("STATE_BUCKET_PUBLIC_ACCESS", f"bucket {bucket} does not block "
                                "public access (all four Block Public Access settings): the "
                                "team's journals and reports could be made public",
                                f"aws s3api put-public-access-block --bucket {bucket} "
                                "--public-access-block-configuration BlockPublicAcls=true,"
                                "IgnorePublicAcls=true,BlockPublicPolicy=true,"
                                "RestrictPublicBuckets=true", evidence))
    return CheckResult(findings, evidence)


def _failed(code: str, message: str, action: str, evidence: dict[str, Any]) -> Finding:
    return Finding(code, message, action, BY_ID[ITEM].severity, Outcome.FAILED, ITEM, evidence)
