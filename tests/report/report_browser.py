"""Open a page in headless Chromium over the DevTools protocol; collect what went wrong.

Test helper (needs the ``chromium`` binary and the ``websocket-client`` package). It records
console errors, uncaught exceptions, log entries of level error (e.g. a resource that failed
to load), failed network loads and every requested URL, then reports each ``<img>``'s natural
size and takes a PNG screenshot.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--window-size=1280,1600",
    "--remote-debugging-port=0",
]


@dataclass
class PageCheck:
    """What happened while loading one page."""

    errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    probes: dict[str, Any] = field(default_factory=dict)


def chromium_binary() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _DevTools:
    def __init__(self, ws_url: str, timeout: float) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method: str, timeout: float) -> None:
        if any(e["method"] == method for e in self.events):
            return
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return
        raise TimeoutError(f"no {method} within {timeout} s")


def _start(binary: str, profile: Path, timeout: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"
    deadline = time.time() + timeout
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"chromium did not start (exit code {proc.poll()})")
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
            pages = [t for t in json.load(resp) if t.get("type") == "page"]
        if pages:
            return proc, pages[0]["webSocketDebuggerUrl"]
        if time.time() > deadline:
            proc.kill()
            raise RuntimeError("chromium opened no page")
        time.sleep(0.1)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in {"error", "assert"}:
            out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                              for a in p.get("args", [])))
        elif e["method"] == "Runtime.exceptionThrown":
            out.append("exception: " + p["exceptionDetails"].get("text", ""))
        elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif e["method"] == "Network.loadingFailed":
            out.append(f"network: {p.get('errorText')}")
    return out


def check_page(page: Path, screenshot: Path, timeout: float = 60.0,
               probes: dict[str, str] | None = None,
               shots: dict[Path, str] | None = None) -> PageCheck:
    """Load ``page`` (a local file) headless; save a PNG screenshot; return the findings.

    ``probes`` maps names to JavaScript expressions evaluated in the loaded page (their JSON
    values are returned in :attr:`PageCheck.probes`); ``shots`` maps PNG paths to CSS
    selectors: each is a 1280 × 1000 screenshot starting at that element's top.
    """
    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("no chromium binary on PATH")
    with tempfile.TemporaryDirectory(prefix="iclab-chromium-") as profile:
        proc, ws_url = _start(binary, Path(profile), timeout)
        try:
            tools = _DevTools(ws_url, timeout)
            for domain in ("Runtime", "Log", "Network", "Page"):
                tools.call(f"{domain}.enable")
            tools.call("Page.navigate", url=page.resolve().as_uri())
            tools.wait_for("Page.loadEventFired", timeout)
            images = tools.call(
                "Runtime.evaluate", returnByValue=True,
                expression="Array.from(document.images).map(i => ({src: i.src, "
                           "complete: i.complete, naturalWidth: i.naturalWidth}))")
            title = tools.call("Runtime.evaluate", expression="document.title",
                               returnByValue=True)
            found = {name: tools.call("Runtime.evaluate", expression=expr,
                                      returnByValue=True)["result"].get("value")
                     for name, expr in (probes or {}).items()}
            shot = tools.call("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            for path, selector in (shots or {}).items():
                top = tools.call("Runtime.evaluate", returnByValue=True, expression=(
                    f"(() => {{const e = document.querySelector({json.dumps(selector)});"
                    "return e ? e.getBoundingClientRect().top + window.scrollY : 0;})()"))
                clip = {"x": 0, "y": max(float(top["result"]["value"]) - 8, 0.0),
                        "width": 1280, "height": 1000, "scale": 1}
                picture = tools.call("Page.captureScreenshot", format="png", clip=clip,
                                     captureBeyondViewport=True)
                path.write_bytes(base64.b64decode(picture["data"]))
            tools.ws.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return PageCheck(
        errors=_errors(tools.events),
        requested=[e["params"]["request"]["url"] for e in tools.events
                   if e["method"] == "Network.requestWillBeSent"],
        images=images["result"]["value"],
        title=title["result"]["value"],
        probes=found,
    )
