# Django ships no type hints (django-stubs is a plugin this project does not use).
# mypy: disable-error-code="import-untyped,untyped-decorator,misc"
"""A real Django app implementing each §14 behaviour correctly, or incorrectly when told, served
over TLS (a certificate of the test CA) by werkzeug in a subprocess — the drill.scenarios tests'
staging app.

    python tests/checklist/scenario_app.py CERT KEY STATE_DIR [BAD,…] [SLOW_LOGIN_S]
        env SCENARIO_PASSWORD (the test users' password), SCENARIO_WEBHOOK_SECRET
        prints "PORT <n>", then "RESET <uidb64>/<token>" (a reset token made two hours ago),
        and serves on 127.0.0.1 until killed.

BAD names the behaviours done wrong (default: none); each uses Django's own machinery where
Django has it:

    behaviour     right                                        wrong (BAD)
    rate_limit    429 after 5 failed logins of one username    never limited
    reset         PASSWORD_RESET_TIMEOUT 1 h: the 2-h-old      a timeout of ten years: it works
                  token is "invalid" (200 + that text)         (302 to the set-password form)
    session       database sessions: logout deletes it         signed-cookie sessions: the old
                                                               cookie still logs in (Django docs
                                                               warn about exactly this)
    private       /media/private/… needs a login               served to anyone
    webhook       stripe.Webhook.construct_event (tolerance    no signature check at all
                  300 s) -> 400 on a bad or stale signature
    stale         —                                            signature checked, timestamp not
    tenant        /projects/<id>/ of another tenant: 404       served to any logged-in user
    admin         /staff/ needs is_staff (403)                 any logged-in user

Users: alice (tenant A, not staff), bob (tenant B), carol (the reset link's). Project 1 is
tenant A's, project 2 B's.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
BEHAVIOURS = ("rate_limit", "reset", "session", "private", "webhook", "stale", "tenant", "admin")
PROJECTS = {1: "A", 2: "B"}
LIMIT = 5

LOGIN_HTML = """<form method="post">{% csrf_token %}{{ form.as_p }}</form>"""
RESET_HTML = """{% if validlink %}<form method="post">{% csrf_token %}{{ form.as_p }}</form>
{% else %}<p>The password reset link was invalid, possibly because it has already been used.
</p>{% endif %}"""


@dataclass
class ScenarioApp:
    url: str
    reset_token: str
    proc: subprocess.Popen[str]
    output: list[str]

    def stop(self) -> None:
        # imported here: this module also runs as the app's own script, without tests/
        from tests.servers._util import stop_process

        stop_process(self.proc)

    @property
    def issued_sessions(self) -> list[str]:
        return [line.split()[1] for line in self.output if line.startswith("ISSUED ")]

    def seen(self, needle: str) -> int:
        """How many request lines the app logged containing `needle` (e.g. "POST /login/")."""
        return sum(needle in line for line in self.output)


def _drain(stream: Any, lines: list[str]) -> None:
    """Keep reading the app's output (the pipe never fills; the log lines are evidence)."""
    for line in stream:
        lines.append(line)


def start(cert: Path, key: Path, state: Path, password: str, webhook_secret: str,
          bad: tuple[str, ...] = (), slow_login: float = 0.0) -> ScenarioApp:
    """Start the app; wait (bounded) for its PORT and RESET lines; stop it on any failure."""
    state.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "SCENARIO_PASSWORD": password,
           "SCENARIO_WEBHOOK_SECRET": webhook_secret}
    proc = subprocess.Popen([sys.executable, __file__, str(cert), str(key), str(state),
                             ",".join(bad), str(slow_login)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    timer = threading.Timer(30, proc.kill)  # never hang a test on a server that stays silent
    timer.start()
    port, token = 0, ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("PORT "):
                port = int(line.split()[1])
            elif line.startswith("RESET "):
                token = line.split()[1]
                threading.Thread(target=_drain, args=(proc.stdout, lines), daemon=True).start()
                return ScenarioApp(f"https://{LOOPBACK}:{port}", token, proc, lines)
    finally:
        timer.cancel()
    proc.kill()
    proc.wait(timeout=10)
    raise RuntimeError("the scenario app did not start:\n" + "".join(lines[-40:]))


# --- the app (run as a script) -------------------------------------------------------------------

def _configure(state: Path, bad: set[str]) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False, SECRET_KEY=secrets.token_urlsafe(40), ALLOWED_HOSTS=[LOOPBACK],
        ROOT_URLCONF=__name__, USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                        "django.contrib.sessions"],
        MIDDLEWARE=[f"{__name__}.issued",
                    "django.contrib.sessions.middleware.SessionMiddleware",
                    "django.middleware.csrf.CsrfViewMiddleware",
                    "django.contrib.auth.middleware.AuthenticationMiddleware"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                               "NAME": str(state / "app.sqlite3")}},
        SESSION_ENGINE=("django.contrib.sessions.backends.signed_cookies" if "session" in bad
                        else "django.contrib.sessions.backends.db"),
        SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True,
        PASSWORD_RESET_TIMEOUT=(10 * 365 * 86400 if "reset" in bad else 3600),
        LOGIN_URL="/login/", LOGIN_REDIRECT_URL="/account/", LOGOUT_REDIRECT_URL="/login/",
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", {
                        "registration/login.html": LOGIN_HTML,
                        "registration/password_reset_confirm.html": RESET_HTML})]}}],
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # test users only
    )
    django.setup()


def issued(get_response: Any) -> Any:
    """Middleware: print every session cookie value the app hands out ("ISSUED <value>"), so
    the canary test knows the values breakglass held and can look for them in its output."""

    def middleware(request: Any) -> Any:
        response = get_response(request)
        morsel = response.cookies.get("sessionid")
        if morsel is not None and morsel.value:
            print(f"ISSUED {morsel.value}", flush=True)
        return response

    return middleware


def _urls(bad: set[str], slow_login: float) -> list[Any]:
    import stripe
    from django.contrib.auth import views as auth_views
    from django.contrib.auth.decorators import login_required
    from django.http import Http404, HttpRequest, HttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    failures: dict[str, int] = {}
    lock = threading.Lock()
    login_view = auth_views.LoginView.as_view()

    def login(request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            time.sleep(slow_login)
            name = request.POST.get("username", "")
            with lock:
                if "rate_limit" not in bad and failures.get(name, 0) >= LIMIT:
                    return HttpResponse("Too many attempts", status=429)
            resp = login_view(request)
            if resp.status_code == 200:  # the form again: a wrong password
                with lock:
                    failures[name] = failures.get(name, 0) + 1
            return resp
        return login_view(request)

    def tenant_of(request: HttpRequest) -> str:
        return str(request.user.groups.values_list("name", flat=True).first() or "")

    @login_required
    def account(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"hello {request.user.get_username()}")

    def private(request: HttpRequest, name: str) -> HttpResponse:
        if "private" not in bad and not request.user.is_authenticated:
            return HttpResponse("login required", status=401)
        return HttpResponse(b"%PDF-1.4 invoice", content_type="application/pdf")

    @login_required
    def project(request: HttpRequest, pk: int) -> HttpResponse:
        if pk not in PROJECTS or ("tenant" not in bad and PROJECTS[pk] != tenant_of(request)):
            raise Http404
        return HttpResponse(f"project {pk} of tenant {PROJECTS[pk]}")

    @login_required
    def staff(request: HttpRequest) -> HttpResponse:
        if "admin" not in bad and not request.user.is_staff:
            return HttpResponse("forbidden", status=403)
        return HttpResponse("admin panel")

    @csrf_exempt
    def webhook(request: HttpRequest) -> HttpResponse:
        if "webhook" in bad:
            return HttpResponse("ok")
        secret = os.environ["SCENARIO_WEBHOOK_SECRET"]
        header = request.headers.get("Stripe-Signature", "")
        try:
            if "stale" in bad:
                # the signature is checked but the timestamp is not (tolerance off)
                stripe.WebhookSignature.verify_header(request.body.decode(), header, secret,
                                                      tolerance=None)
            else:
                stripe.Webhook.construct_event(request.body.decode(), header, secret,
                                               tolerance=300)
        except (ValueError, stripe.SignatureVerificationError):
            return HttpResponse("bad signature", status=400)
        return HttpResponse("ok")

    return [
        path("login/", login),
        path("logout/", auth_views.LogoutView.as_view()),
        path("account/", account),
        path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view()),
        path("media/private/<str:name>", private),
        path("projects/<int:pk>/", project),
        path("staff/", staff),
        path("webhooks/stripe/", webhook),
    ]


def _seed() -> str:
    """Users and tenants; returns "uidb64/token" of a reset link made two hours ago."""
    from django.contrib.auth.models import Group, User
    from django.contrib.auth.tokens import PasswordResetTokenGenerator
    from django.core.management import call_command
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    call_command("migrate", verbosity=0, interactive=False)
    password = os.environ["SCENARIO_PASSWORD"]
    alice = User.objects.create_user("alice", "alice@example.test", password)
    bob = User.objects.create_user("bob", "bob@example.test", password)
    # The reset link is carol's: Django's reset token hashes the user's last_login, so a token
    # of a user the drill logs in as is invalidated by the drill itself.
    carol = User.objects.create_user("carol", "carol@example.test", password)
    alice.groups.add(Group.objects.create(name="A"))
    bob.groups.add(Group.objects.create(name="B"))

    class TwoHoursAgo(PasswordResetTokenGenerator):
        def _now(self) -> Any:
            from datetime import datetime, timedelta

            return datetime.now() - timedelta(hours=2)

    token = TwoHoursAgo().make_token(carol)
    return f"{urlsafe_base64_encode(force_bytes(carol.pk))}/{token}"


def main(cert: str, key: str, state: str, bad_arg: str, slow: str) -> None:
    bad = {b for b in bad_arg.split(",") if b}
    unknown = bad - set(BEHAVIOURS)
    if unknown:
        raise SystemExit(f"unknown behaviours: {sorted(unknown)}")
    _configure(Path(state), bad)
    global urlpatterns
    urlpatterns = _urls(bad, float(slow))
    token = _seed()
    from django.core.wsgi import get_wsgi_application
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Logged(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # method, path and status only: the request line of a reset link holds its token,
            # which is what the tests look for in breakglass's output, not here
            print(f"REQ {self.command} {self.path.split('?')[0]} {code}", flush=True)

    server = make_server(LOOPBACK, 0, get_wsgi_application(), threaded=True,
                         request_handler=Logged, ssl_context=(cert, key))
    print(f"PORT {server.port}", flush=True)
    print(f"RESET {token}", flush=True)
    server.serve_forever()


urlpatterns: list[Any] = []

if __name__ == "__main__":
    main(*sys.argv[1:6])
