"""A small Chrome DevTools protocol client: headless Chromium in a subprocess, one page, driven over
the browser's websocket (evaluate, wait, files, keys, screenshots at a width)."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

__all__ = ["CHROMIUM", "Browser", "CdpError", "Page"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-port=0",
)


class CdpError(RuntimeError):
    """A protocol command failed, or the page did not reach a state in time."""


class Browser:
    """Headless Chromium with a fresh profile; `page()` opens a tab. Use as a context manager."""

    def __init__(self, profile: Path, timeout_s: float = 60.0) -> None:
        if CHROMIUM is None:
            raise CdpError("Chromium is not installed")
        self._process = subprocess.Popen(
            [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = self._devtools_url(timeout_s)
        self._connection = contextlib.ExitStack()  # websockets wants its connection used as a context
        self._socket: ClientConnection = self._connection.enter_context(
            connect(url, max_size=64 * 2**20, open_timeout=timeout_s)
        )
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def _devtools_url(self, timeout_s: float) -> str:
        assert self._process.stderr is not None
        deadline = time.monotonic() + timeout_s
        seen = []
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line and self._process.poll() is not None:
                break
            seen.append(line)
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                return match.group(1)
        self.close()
        raise CdpError(f"Chromium did not open its DevTools port: {''.join(seen)[-2000:]}")

    def send(self, method: str, session: str | None = None, timeout_s: float = 60.0, **params: Any) -> Any:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError(f"{method} got no answer within {timeout_s:g} s")
            reply = json.loads(self._socket.recv(timeout=left))
            if reply.get("id") != message_id:
                if "method" in reply:
                    self.events.append(reply)
                continue
            if "error" in reply:
                raise CdpError(f"{method}: {reply['error'].get('message')}")
            return reply.get("result", {})

    def page(self) -> Page:
        """A new tab, attached."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        return Page(self, session)

    def close(self) -> None:
        """Close the socket and stop Chromium."""
        connection = getattr(self, "_connection", None)
        if connection is not None:
            connection.close()
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr is not None:
            self._process.stderr.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class Page:
    """One tab: navigate, run script, wait for a condition, set files, press keys, take screenshots."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        for domain in ("Page", "Runtime", "DOM"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params: Any) -> Any:
        """A command in this tab's session."""
        return self.browser.send(method, session=self.session, **params)

    def goto(self, url: str) -> None:
        """Open `url` and wait for its document to load."""
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited); page exceptions raise CdpError."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"script failed: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 30.0) -> Any:
        """Poll until `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = self.evaluate(expression)
            except CdpError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"timed out waiting for: {expression}")
            time.sleep(0.1)

    def set_files(self, selector: str, *paths: Path) -> None:
        """Choose files in the file input matched by `selector`."""
        root = self.send("DOM.getDocument", depth=0)["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            raise CdpError(f"no element matches {selector!r}")
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(p) for p in paths])

    def press(self, key: str) -> None:
        """Press and release one printable key, as a user typing it."""
        self.send("Input.dispatchKeyEvent", type="keyDown", key=key, text=key)
        self.send("Input.dispatchKeyEvent", type="keyUp", key=key)

    def set_width(self, width: int, height: int = 900) -> None:
        """Lay the page out for a viewport `width` CSS pixels wide."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )

    def settle(self, seconds: float = 0.3) -> None:
        """Let layout and paint catch up (two animation frames, then a pause for frames inside)."""
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        time.sleep(seconds)

    def screenshot(self, path: Path, width: int) -> None:
        """Write a PNG of the whole page laid out `width` pixels wide.

        The viewport grows to the page's height first: Chromium does not paint frames outside the
        viewport (the e-mail previews), so a capture beyond it would show them blank.
        """
        self.set_width(width)
        self.settle(0.1)
        height = int(self.send("Page.getLayoutMetrics")["cssContentSize"]["height"])
        self.set_width(width, min(max(height, 200), 16_000))
        self.settle()
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        self.set_width(width)

    def console(self) -> list[str]:
        """The text of every console message and uncaught exception so far."""
        out = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            if event.get("method") == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
            elif event.get("method") == "Runtime.exceptionThrown":
                out.append(str(params["exceptionDetails"].get("exception", {}).get("description", "")))
        return out
