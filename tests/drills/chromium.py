"""A page rendered by a real headless Chromium (Debian's `chromium`, installed by scripts/test),
driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages ended by
NUL on fds 3 and 4), so no websocket library and no port.

Why not `--window-size`: headless Chromium will not make a window narrower than 500 px; a phone
is emulated instead (Emulation.setDeviceMetricsOverride, mobile: the page's viewport meta is
honoured as on a phone).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "chromium"


@dataclass
class Rendered:
    value: Any  # what the expression returned
    screenshot: Path


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.proc, self.out, self.inp = proc, to_browser, from_browser
        self.buf, self.next_id = b"", 0

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buf:
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)  # type: ignore[no-any-return]

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})  # type: ignore[no-any-return]

    def wait_event(self, method: str) -> None:
        while self._read().get("method") != method:
            pass


def render(page: Path, width: int, height: int, expression: str, screenshot: Path, *,
           mobile: bool, full_page: bool = True) -> Rendered:
    """Load `page` in a `width`×`height` viewport, evaluate `expression` once it has loaded
    (its JSON-able value is returned), and save a PNG of the whole page (or of the viewport) to
    `screenshot`."""
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    profile = screenshot.parent / f".chromium-{screenshot.stem}"

    def fds() -> None:  # the browser reads commands on fd 3, writes replies on fd 4
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_r, from_w)]  # either may be 3/4
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)

    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--remote-debugging-pipe", f"--user-data-dir={profile}",
         "about:blank"],
        preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    os.close(to_r)
    os.close(from_w)
    pipe = _Pipe(proc, to_w, from_r)
    try:
        target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
        session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        pipe.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)
        pipe.call("Page.enable", session)
        pipe.call("Page.navigate", session, url=page.resolve().as_uri())
        pipe.wait_event("Page.loadEventFired")
        value = pipe.call("Runtime.evaluate", session, expression=expression,
                          returnByValue=True)["result"].get("value")
        shot = pipe.call("Page.captureScreenshot", session, format="png",
                         captureBeyondViewport=full_page)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        pipe.call("Browser.close")
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(to_w)
        os.close(from_r)
        shutil.rmtree(profile, ignore_errors=True)
    return Rendered(value, screenshot)
