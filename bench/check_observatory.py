"""`breakglass check` of one web site (TLS, headers, cookies, CORS) against MDN's HTTP
Observatory CLI (npm `@mdn/mdn-http-observatory`, which people run for the same job), on the
same local nginx, alternating, in the same run (issue 12: goal <= 1.0x).

    .venv/bin/python bench/check_observatory.py [--rounds 9]

What it does:
1. makes the test CA (tests/servers/nginx.py) and starts one nginx on 127.0.0.1 with a site that
   does everything right: port 80 answers a permanent redirect to https, port 443 serves a page
   with HSTS, CSP, nosniff, Referrer-Policy, X-Frame-Options, a Secure HttpOnly SameSite session
   cookie and a robots.txt. The Observatory's CLI takes a host name only (it always scans ports
   80 and 443), so both listen there: 127.0.0.1:80 and :443 must be free, and binding them needs
   root (as in CI) or net.ipv4.ip_unprivileged_port_start <= 80;
2. writes a breakglass.toml for that site (its owner told through an HTTP sink, as a real setup
   would; read-only runs tell owners about failures only) and checks once that both tools pass
   the site: `breakglass check` exit 0 with every item passed, the Observatory no error and
   every test passed;
3. times, round after round, `breakglass check --only ITEMS` (the 11 web items: tls.*,
   headers.* with headers.cors, cookies.secure) and `node scan.js 127.0.0.1`, each a fresh
   process with its output in a pipe, and prints the medians, their ratio and the load average.

The Observatory runs as `node …/src/scan.js HOST` with NODE_EXTRA_CA_CERTS = the test CA: its
`mdn-http-observatory-scan` wrapper only starts that same script in a second node process after
pointing NODE_EXTRA_CA_CERTS at its own Mozilla bundle (which would make it distrust the test CA
and scan again without verification). Leaving the wrapper out saves the Observatory one node
start-up. It is installed by scripts/test into .tools/observatory (npm, pinned).

Exit status: 0 goal met, 1 goal missed, 2 the benchmark itself failed (a tool missing, a port
taken, a tool that does not pass the site).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers.nginx import Server, make_test_ca, start_nginx  # noqa: E402
from tests.servers.sinks import HttpSink  # noqa: E402

GOAL = 1.0
HOST = "127.0.0.1"
SCAN = ROOT / ".tools/observatory/node_modules/@mdn/mdn-http-observatory/src/scan.js"
ITEMS = ("tls.https_redirect", "tls.certificate", "tls.expiry", "tls.version", "tls.hsts",
         "headers.csp", "headers.nosniff", "headers.referrer_policy", "headers.clickjacking",
         "headers.cors", "cookies.secure")

CSP = ("default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'; "
       "form-action 'self'")
PAGE = """\
add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
add_header Content-Security-Policy "CSP" always;
add_header X-Content-Type-Options nosniff always;
add_header Referrer-Policy strict-origin-when-cross-origin always;
add_header X-Frame-Options DENY always;
add_header Set-Cookie "sessionid=4f2a9c; Path=/; Secure; HttpOnly; SameSite=Lax" always;
location = /robots.txt { return 200 "User-agent: *\\nDisallow:\\n"; }
location / {
    default_type text/html;
    return 200 "<!doctype html><title>acme</title><body>sign in</body>\\n";
}
""".replace("CSP", CSP)

CONFIG = """\
[project]
name = "acme"
environment = "production"
state_dir = "state"

[owners]
release_signoff = ["alice"]

[people.alice]
notify = ["{notify}"]

[app]
base_url = "https://{host}"

[checklist.web]
ca_bundle = "{ca}"
"""


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def timed(argv: list[str], env: dict[str, str],
          cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - start, done


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    node = shutil.which("node")
    if node is None or not SCAN.is_file():
        print(f"bench: needs node and the Observatory CLI at {SCAN.relative_to(ROOT)}: run "
              "scripts/test once (it installs it)", file=sys.stderr)
        return 2
    taken = [p for p in (80, 443) if not port_free(p)]
    if taken:
        print(f"bench: {HOST}:{taken[0]} is taken or not bindable here (the Observatory scans "
              "ports 80 and 443 only): free it, or run as root", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bg-bench-observatory-"))
    sink = HttpSink().start()
    site = None
    try:
        (work / "ca").mkdir()
        ca = make_test_ca(work / "ca")
        site = start_nginx(ca, {"https": Server(PAGE, cert="good"),
                                "http": Server("return 301 https://$host$request_uri;")},
                           ports={"https": 443, "http": 80})
        project = work / "project"
        project.mkdir()
        (project / "breakglass.toml").write_text(CONFIG.format(
            notify=sink.apprise_url, host=HOST, ca=ca.bundle))
        env = dict(os.environ)
        # A user's installed breakglass has its bytecode compiled; the warm-up writes it here.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        breakglass = [str(Path(sys.executable).parent / "breakglass"), "check",
                      "--only", ",".join(ITEMS)]
        observatory = [node, str(SCAN), HOST]
        obs_env = {**env, "NODE_EXTRA_CA_CERTS": str(ca.bundle)}

        # warm-up, and proof that both judge the site (a tool that fails fast proves nothing)
        _, r = timed([*breakglass, "--json"], env, project)
        items = {i["id"]: i["verdict"] for i in json.loads(r.stdout or "{}").get("items", [])}
        if r.returncode != 0 or set(items) != set(ITEMS) or set(items.values()) != {"passed"}:
            print(f"bench: breakglass check did not pass the site (exit {r.returncode}):\n"
                  f"{r.stdout[-2000:]}{r.stderr[-2000:]}", file=sys.stderr)
            return 2
        _, r = timed(observatory, obs_env, project)
        scan = json.loads(r.stdout or "{}").get("scan") or {}
        if r.returncode != 0 or scan.get("testsFailed") != 0:
            print(f"bench: the Observatory did not pass the site (exit {r.returncode}):\n"
                  f"{r.stdout[-2000:]}{r.stderr[-2000:]}", file=sys.stderr)
            return 2
        print(f"site https://{HOST}/ : breakglass {len(items)} items passed; Observatory grade "
              f"{scan.get('grade')}, {scan.get('testsPassed')}/{scan.get('testsQuantity')} "
              "tests passed")

        ours: list[float] = []
        base: list[float] = []
        before = load()
        for _ in range(args.rounds):
            t, r = timed(breakglass, env, project)
            if r.returncode != 0:
                print(f"bench: breakglass check exited {r.returncode}:\n{r.stdout}{r.stderr}",
                      file=sys.stderr)
                return 2
            ours.append(t)
            t, r = timed(observatory, obs_env, project)
            if r.returncode != 0:
                print(f"bench: the Observatory exited {r.returncode}:\n{r.stdout}{r.stderr}",
                      file=sys.stderr)
                return 2
            base.append(t)
    finally:
        if site is not None:
            site.close()
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)
    m_ours, m_base = statistics.median(ours), statistics.median(base)
    ratio = m_ours / m_base
    rounds = ", ".join(f"{a / b:.2f}" for a, b in zip(ours, base, strict=True))
    print(f"breakglass check ({len(ITEMS)} web items)  median {m_ours:.3f} s "
          f"(min {min(ours):.3f}) over {args.rounds} rounds")
    print(f"Observatory scan.js                 median {m_base:.3f} s "
          f"(min {min(base):.3f}) over {args.rounds} rounds")
    print(f"ratio {ratio:.2f} (goal <= {GOAL}); per round: {rounds}")
    print(f"load average before {before}, after {load()} ({os.cpu_count()} CPUs)")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
