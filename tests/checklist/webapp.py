# Django ships no type hints (django-stubs is a plugin this project does not use).
# mypy: disable-error-code="import-untyped,untyped-decorator"
"""Small local web apps for the cookies.secure / headers.cors / app.debug_off tests, on 127.0.0.1
with plain HTTP (what these checks judge is the same over TLS).

    FlaskSite      a Flask app in a thread (werkzeug's threaded server), switchable per test by a
                   Behaviour: the login page's cookies, flask-cors settings, the real Werkzeug
                   debugger (`flask run --debug`), a traceback-printing error handler
    DjangoSite     real Django in a subprocess (this file run as a script): DEBUG on or off,
                   Django's default cookie settings or the production ones
    ExpressSite    real Express (Debian's node-express) in a subprocess, NODE_ENV as given

    python tests/checklist/webapp.py django DEBUG SECURE   (DEBUG, SECURE: 0 | 1)
        prints "PORT <n>" and serves until killed.

The one copied page is Rails's (no Ruby here): see RAILS_ROUTING_ERROR.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"

# The shape of ActionDispatch's development 404 (actionpack/lib/action_dispatch/middleware/
# templates/rescues/layout.erb + routing_error.html.erb): title, heading, Rails.root line.
# Written from those templates, not captured from a running Rails (none can run here).
RAILS_ROUTING_ERROR = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8" />
<title>Action Controller: Exception caught</title></head>
<body><header><h1>Routing Error</h1></header>
<main role="main" id="container"><h2>No route matches [GET] "%s"</h2>
<p><code>Rails.root: /srv/acme</code></p></main></body></html>
"""


@dataclass
class Behaviour:
    """What the Flask site does. Cookies are set on GET /login (on the redirect target when
    `login_redirect` is set)."""

    #: keyword arguments of werkzeug's Response.set_cookie (key, value, secure, httponly, …)
    cookies: list[dict[str, Any]] = field(default_factory=list)
    #: Set-Cookie header values sent as they are (for what set_cookie refuses to write)
    raw_cookies: list[str] = field(default_factory=list)
    #: GET /login answers 302 to this path, which sets the cookies
    login_redirect: str | None = None
    #: flask-cors keyword arguments (origins=…, supports_credentials=…); None: no CORS at all
    cors: dict[str, Any] | None = None
    #: hand-written CORS: "*" with Allow-Credentials: true
    cors_wildcard_credentials: bool = False
    #: wrap the app in werkzeug's DebuggedApplication, as `flask run --debug` does
    debugger: bool = False
    #: a 404 raises and an error handler returns the traceback as text
    traceback_errors: bool = False
    #: a 404 answered with the Rails development routing-error page
    rails_page: bool = False
    #: the body of GET /
    home: str = "home"


def flask_app(b: Behaviour) -> Any:
    from flask import Flask, Response, redirect, request

    app = Flask("breakglass_webapp")

    def with_cookies(resp: Response) -> Response:
        for kw in b.cookies:
            resp.set_cookie(**kw)
        for raw in b.raw_cookies:
            resp.headers.add("Set-Cookie", raw)
        return resp

    @app.get("/login")
    def login() -> Any:
        if b.login_redirect:
            return redirect(b.login_redirect)
        return with_cookies(Response("<form method=post><input name=password></form>"))

    if b.login_redirect:
        @app.get(b.login_redirect)
        def login_target() -> Any:
            return with_cookies(Response("<form method=post><input name=password></form>"))

    @app.get("/")
    def home() -> str:
        return b.home

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")  # the debugger's own page, when it is on

    @app.errorhandler(404)
    def not_found(exc: Exception) -> Any:
        if b.rails_page:
            return Response(RAILS_ROUTING_ERROR % request.path, 404, content_type="text/html")
        if b.traceback_errors:
            try:
                raise LookupError(f"no view for {request.path}")
            except LookupError:
                return Response(traceback.format_exc(), 500, content_type="text/plain")
        return Response("not found", 404)

    if b.cors is not None:
        from flask_cors import CORS

        CORS(app, **b.cors)
    if b.cors_wildcard_credentials:
        @app.after_request
        def wildcard(resp: Response) -> Response:
            resp.headers["Access-Control-Allow-Origin"] = "*"
            resp.headers["Access-Control-Allow-Credentials"] = "true"
            return resp

    if b.debugger:
        from werkzeug.debug import DebuggedApplication

        app.debug = True  # what `flask run --debug` does: exceptions reach the debugger
        return DebuggedApplication(app, evalex=True)
    return app


@contextmanager
def serve_flask(behaviour: Behaviour) -> Iterator[str]:
    """Serve the Flask site on a free loopback port in a thread; yields its base URL."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:
            pass

    server = make_server(LOOPBACK, 0, flask_app(behaviour), threaded=True,
                         request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- subprocess sites ------------------------------------------------------------------------

@dataclass
class Subprocess:
    url: str
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        # imported here: this module also runs as the app's own script, without tests/
        from tests.servers._util import stop_process

        stop_process(self.proc)


def _start(argv: list[str], env: dict[str, str], what: str) -> Subprocess:
    """Start `argv`, wait (bounded) for its "PORT n" line; stop it on any failure."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    timer = threading.Timer(20, proc.kill)  # never hang a test on a server that stays silent
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("PORT "):
                # keep draining its output so the pipe never fills and blocks the server
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                return Subprocess(f"http://{LOOPBACK}:{int(line.split()[1])}", proc)
    finally:
        timer.cancel()
    Subprocess("", proc).stop()
    raise RuntimeError(f"{what} did not start:\n{''.join(lines[-30:])}")


def start_django(*, debug: bool, secure_cookies: bool) -> Subprocess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return _start([sys.executable, __file__, "django", str(int(debug)), str(int(secure_cookies))],
                  env, "the Django test site")


#: where Debian's node-express installs it (`apt-get install node-express`)
NODE_PATH = "/usr/share/nodejs"

EXPRESS_APP = """
const express = require('express');
const app = express();
app.use(express.json());  // rejects a malformed JSON body before any route runs
app.get('/boom', () => { throw new Error('boom'); });
app.get('/login', (req, res) => {
  res.cookie('connect.sid', 's:test', {httpOnly: true, secure: true, sameSite: 'lax'});
  res.send('<form method="post"></form>');
});
const server = app.listen(0, '127.0.0.1', () => console.log('PORT ' + server.address().port));
"""


def express_missing() -> str | None:
    """Why Express cannot run here (None when it can)."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        return "node is not installed"
    probe = subprocess.run([node, "-e", "require.resolve('express')"], capture_output=True,
                           env={**os.environ, "NODE_PATH": NODE_PATH}, check=False)
    return None if probe.returncode == 0 else "express is not installed (apt-get install " \
        "node-express)"


def start_express(*, node_env: str) -> Subprocess:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node is not None
    folder = Path(tempfile.mkdtemp(prefix="bg-express-"))
    script = folder / "app.js"
    script.write_text(EXPRESS_APP)
    env = {**os.environ, "NODE_PATH": NODE_PATH, "NODE_ENV": node_env}
    try:
        return _start([node, str(script)], env, "the Express test site")
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # node has read the script by then


# --- the Django site (run as a script) -----------------------------------------------------

def _django_main(debug: bool, secure: bool) -> None:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    import django
    from django.conf import settings

    settings.configure(
        DEBUG=debug, SECRET_KEY=secrets.token_urlsafe(40), ALLOWED_HOSTS=[LOOPBACK],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.common.CommonMiddleware",  # APPEND_SLASH: /login -> /login/
                    "django.contrib.sessions.middleware.SessionMiddleware",
                    "django.middleware.csrf.CsrfViewMiddleware"],
        # sessions in a signed cookie: no database needed, the cookie is still "sessionid"
        SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
        # Django's defaults are Secure=False for both; the production settings turn them on
        SESSION_COOKIE_SECURE=secure, CSRF_COOKIE_SECURE=secure,
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server(LOOPBACK, 0, get_wsgi_application(), handler_class=Quiet)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


def _django_urls() -> list[Any]:
    from django.http import HttpRequest, HttpResponse
    from django.middleware.csrf import get_token
    from django.urls import path

    def login(request: HttpRequest) -> HttpResponse:
        request.session["visited"] = True  # sets the session cookie
        return HttpResponse(f'<form method="post"><input type="hidden" '
                            f'name="csrfmiddlewaretoken" value="{get_token(request)}"></form>')

    def boom(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("boom")  # Django's technical 500 page, with DEBUG = True

    return [path("login/", login), path("boom/", boom)]


if __name__ == "__main__":
    if sys.argv[1:2] == ["django"]:
        urlpatterns = _django_urls()
        _django_main(sys.argv[2] == "1", sys.argv[3] == "1")
