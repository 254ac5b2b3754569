# Django ships no type hints (django-stubs is a plugin this project does not use).
# mypy: disable-error-code="import-untyped,untyped-decorator"
"""A tiny real Django project for the lockout tests, settings in code, served by wsgiref.

    python tests/lockout/djapp.py SESSIONS            (env DJAPP_DSN, DJAPP_REDIS)

SESSIONS is db | cache. It migrates the database (PostgreSQL from the pg_server fixture, never
sqlite), prints "PORT <n>" and serves on 127.0.0.1 until killed. Views:

    POST /signup/   username, email, password, admin=1, token=1 -> "ID [TOKEN]"
    POST /login/    username, password -> 200 + sessionid cookie, or 403
    GET  /whoami/   200 "username" for a logged-in session or a DRF token (Authorization:
                    Token KEY); otherwise a redirect to /accounts/login/ (login_required's answer)
    GET  /account/  session only: login_required (a redirect to /accounts/login/)
    GET  /api/me/   token only: a DRF APIView with TokenAuthentication (401 without a token)
"""

from __future__ import annotations

import os
import secrets
import sys
from typing import Any
from urllib.parse import unquote, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, make_server

import django
from django.conf import settings


def configure(sessions: str) -> None:
    dsn = urlsplit(os.environ["DJAPP_DSN"])
    engine = {"db": "django.contrib.sessions.backends.db",
              "cache": "django.contrib.sessions.backends.cache"}[sessions]
    caches: dict[str, Any] = {"default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    if sessions == "cache":
        caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                              "LOCATION": os.environ["DJAPP_REDIS"]}}
    settings.configure(
        DEBUG=False, SECRET_KEY=secrets.token_urlsafe(40), ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__, USE_TZ=True,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                        "django.contrib.sessions", "rest_framework",
                        "rest_framework.authtoken"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                    "django.contrib.auth.middleware.AuthenticationMiddleware"],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.postgresql", "NAME": dsn.path.lstrip("/"),
            "USER": unquote(dsn.username or ""), "PASSWORD": unquote(dsn.password or ""),
            "HOST": dsn.hostname, "PORT": dsn.port}},
        SESSION_ENGINE=engine, CACHES=caches, LOGIN_URL="/accounts/login/",
        # JSON only: the browsable API's renderer needs templates this app does not configure
        REST_FRAMEWORK={"DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]},
        # Fast hashing: these are test users; the lockout logic does not care about the hasher.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    django.setup()


def views() -> list[Any]:
    from django.contrib.auth import authenticate, login
    from django.contrib.auth.decorators import login_required
    from django.contrib.auth.models import User
    from django.contrib.auth.views import redirect_to_login
    from django.http import HttpRequest, HttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt
    from rest_framework.authentication import TokenAuthentication
    from rest_framework.authtoken.models import Token
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.permissions import IsAuthenticated
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    @csrf_exempt
    def signup(request: HttpRequest) -> HttpResponse:
        p = request.POST
        admin = p.get("admin") == "1"
        user = User.objects.create_user(p["username"], p["email"], p["password"],
                                        is_superuser=admin, is_staff=admin)
        out = str(user.pk)
        if p.get("token") == "1":
            out += " " + Token.objects.create(user=user).key
        return HttpResponse(out)

    @csrf_exempt
    def do_login(request: HttpRequest) -> HttpResponse:
        user = authenticate(request, username=request.POST["username"],
                            password=request.POST["password"])
        if user is None:
            return HttpResponse("refused", status=403)
        login(request, user)
        return HttpResponse("ok")

    def whoami(request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            return HttpResponse(request.user.get_username())
        try:
            got = TokenAuthentication().authenticate(request)
        except AuthenticationFailed:
            got = None
        if got is not None:
            return HttpResponse(got[0].get_username())
        return redirect_to_login(request.get_full_path())

    @login_required
    def account(request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.user.get_username())

    class ApiMe(APIView):
        authentication_classes = (TokenAuthentication,)
        permission_classes = (IsAuthenticated,)

        def get(self, request: Request) -> Response:
            return Response({"username": request.user.get_username()})

    return [path("signup/", signup), path("login/", do_login), path("whoami/", whoami),
            path("account/", account), path("api/me/", ApiMe.as_view())]


urlpatterns: list[Any] = []


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    configure(sys.argv[1])
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    urlpatterns.extend(views())
    call_command("migrate", verbosity=0)
    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
