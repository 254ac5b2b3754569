"""[drills.scenarios]: the security checklist's §14 failure scenarios against a staging app
(`breakglass drill.scenarios`, docs/drill-scenarios.md).

One table per scenario; a scenario without its table (or without what it needs, e.g. the test
user for session_revoked) is "could not verify", never a pass. Passwords, tokens and webhook
secrets are secret references (env:, file:, aws-sm:, ssm:), never values.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from breakglass.config.base import (
    ExistingFile,
    NonEmpty,
    SecretRef,
    Section,
    http_url,
)
from breakglass.config.durations import Duration, Timeout

Status = Annotated[int, Field(ge=100, le=599)]


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise PydanticCustomError("path", "expected a path starting with / (relative to "
                                          "base_url)")
    return value


def _reset_path(value: str) -> str:
    _path(value)
    if "{token}" not in value:
        raise PydanticCustomError("reset_path", "expected a path template with {token}, e.g. "
                                                "/reset/{token}/")
    return value


Path_ = Annotated[str, AfterValidator(_path)]


class LoginConfig(Section):
    """How to log in: a form (Django's default) or JSON POST to `path`. With `csrf_cookie` set,
    the login page is fetched first and its CSRF token (that cookie, else the hidden
    `csrf_field` input) is sent back as `csrf_field` and the `csrf_header` header — Django's
    scheme (docs.djangoproject.com/en/stable/howto/csrf/)."""

    path: Path_ = "/login"
    format: Literal["form", "json"] = "form"
    username_field: NonEmpty = "username"
    password_field: NonEmpty = "password"  # noqa: S105 (a form field's name)
    #: "" when the login needs no CSRF token
    csrf_cookie: str = "csrftoken"
    csrf_field: NonEmpty = "csrfmiddlewaretoken"
    csrf_header: NonEmpty = "X-CSRFToken"
    #: the cookie that carries the session (its presence after the POST means "logged in")
    session_cookie: NonEmpty = "sessionid"


class UserConfig(Section):
    """A test user of the staging app (tenant A, not an admin)."""

    username: NonEmpty
    password: SecretRef


class BruteForceConfig(Section):
    #: the account the wrong passwords are tried on: a throwaway one, never the test user (a
    #: lockout would stop the other scenarios)
    username: NonEmpty = "breakglass-drill@example.invalid"
    #: wrong-password logins tried before "never limited" is a finding
    attempts: int = Field(default=20, ge=1, le=500)
    #: a response with one of these statuses, or containing `limited_text`, is the limit
    limited_status: list[Status] = [429]
    limited_text: str = ""


class ResetExpiredConfig(Section):
    #: the reset link's path with {token}, e.g. "/reset/{token}/" (Django: /reset/<uidb64>/<token>/:
    #: put both parts in the token)
    path: Annotated[str, AfterValidator(_reset_path)]
    #: an expired reset token the app's team created in staging (a secret reference)
    token: SecretRef
    #: answers meaning "rejected": these statuses, or a page containing `rejected_text`
    #: (Django's PasswordResetConfirmView answers 200 "The password reset link was invalid")
    rejected_status: list[Status] = [400, 401, 403, 404, 410]
    rejected_text: str = ""


class SessionRevokedConfig(Section):
    #: a page that needs the login (answers 2xx with the session, refuses without it)
    probe_path: Path_
    #: how the session is ended: POST to logout_path (with the CSRF token), or to revoke_url
    logout_path: Path_ | None = "/logout"
    revoke_url: Annotated[str, AfterValidator(http_url)] | None = None


class PrivateFileConfig(Section):
    #: private files' paths (uploads, invoices), fetched without any cookie
    paths: list[Path_] = Field(min_length=1)


class WebhookConfig(Section):
    #: the webhook endpoint (Stripe-style `Stripe-Signature: t=…,v1=…`)
    path: Path_
    #: the endpoint's real signing secret (a ref): lets the drill also send a correctly signed
    #: event with a stale timestamp; without it only the invalid signature is tried
    secret: SecretRef | None = None
    #: how stale the stale event is (Stripe's default tolerance is 300 s)
    stale_by: Duration = timedelta(hours=1)
    header: NonEmpty = "Stripe-Signature"


class TenantIsolationConfig(Section):
    #: a resource of the test user's own tenant (answers 2xx: proves the login works)
    own_path: Path_ | None = None
    #: resources of another tenant, fetched as the test user
    other_paths: list[Path_] = Field(min_length=1)


class AdminRoutesConfig(Section):
    paths: list[Path_] = Field(min_length=1)


class ScenariosConfig(Section):
    #: the app under test: a staging URL (a production one is refused unless told explicitly)
    base_url: Annotated[str, AfterValidator(http_url)]
    #: a PEM bundle of CAs to trust (a staging CA); default [checklist.web] ca_bundle, else the
    #: system's. TLS is always verified.
    ca_bundle: ExistingFile | None = None
    #: requests per scenario, and in the whole run
    max_requests: int = Field(default=30, ge=1, le=1000)
    max_total_requests: int = Field(default=150, ge=1, le=10000)
    #: the whole run stops asking after this long; one request's timeout
    deadline: Timeout = timedelta(minutes=2)
    timeout: Timeout = timedelta(seconds=10)
    #: a login page ("refused" may be a redirect to it)
    login: LoginConfig = LoginConfig()
    user: UserConfig | None = None
    brute_force: BruteForceConfig | None = None
    reset_expired: ResetExpiredConfig | None = None
    session_revoked: SessionRevokedConfig | None = None
    private_file: PrivateFileConfig | None = None
    webhook_signature: WebhookConfig | None = None
    tenant_isolation: TenantIsolationConfig | None = None
    admin_routes: AdminRoutesConfig | None = None
