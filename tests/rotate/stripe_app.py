"""A web app on an sshd test host that receives Stripe webhooks the way a real one does: it reads
its signing secret from ~/.env at start and checks every `Stripe-Signature` with the real
`stripe` library (`stripe.Webhook.construct_event`) — no stand-in for the signature check.

    POST /stripe/webhook   200 {"received": true} for a correctly signed event, else 400
    GET  /healthz          200 "ok"

It refuses to boot (exits at once) when STRIPE_WEBHOOK_SECRET is missing or is not a whsec_
value, like an app whose settings validation fails. `restart.sh SERVICE` (tests/rotate/
service.py) stops the running copy and starts a new one, which reads the file again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import stripe

from tests.rotate.service import RESTART, Service
from tests.servers._util import chown_tree, free_port, is_root
from tests.servers.sshd import SshdServer

APP = r'''
import http.server, pathlib, sys
import stripe
home, port = pathlib.Path(sys.argv[1]), int(sys.argv[2])
env = {}
for line in (home / ".env").read_text().splitlines():
    key, sep, value = line.strip().partition("=")
    if sep and not key.startswith("#"):
        env[key.strip()] = value.strip().strip("'\"")
secret = env.get("STRIPE_WEBHOOK_SECRET", "")
if not secret.startswith("whsec_"):
    sys.exit("STRIPE_WEBHOOK_SECRET is missing or not a whsec_ value")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/healthz": b"ok"}.get(self.path)
        self._send(200 if body is not None else 404, body or b"")

    def do_POST(self):
        payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/stripe/webhook":
            return self._send(404, b"")
        try:
            stripe.Webhook.construct_event(
                payload, self.headers.get("Stripe-Signature"), secret)
        except (ValueError, stripe.SignatureVerificationError):
            return self._send(400, b'{"error": "bad signature"}')
        self._send(200, b'{"received": true}')

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''


class StripeApp(Service):
    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stripe/webhook"


def install_stripe_app(server: SshdServer, env_text: str) -> StripeApp:
    """Write the app, its restart script and ~/.env into the host's home (not started)."""
    port = free_port()
    (server.home / "app.py").write_text(APP)
    # As root, the login user cannot reach this venv's interpreter under /root: the system
    # python runs the app with the venv's site-packages (where stripe is) on its path.
    site = Path(stripe.__file__).parent.parent
    python = f"env PYTHONPATH={site} /usr/bin/python3" if is_root() else sys.executable
    restart = server.home / "restart.sh"
    restart.write_text(RESTART.format(port=port).replace("/usr/bin/python3", python))
    restart.chmod(0o755)
    env = server.home / ".env"
    env.write_text(env_text)
    env.chmod(0o640)
    if is_root():
        import pwd

        chown_tree(server.home, pwd.getpwnam(server.user))
    return StripeApp(server, port)
