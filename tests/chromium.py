"""A small DevTools-protocol client for headless Chromium (the Debian `chromium` package), over aiohttp.

Enough for the reading-room tests: open a page with JavaScript disabled, navigate, read the DOM (through the
DOM domain, so no page script is needed to inspect it), type into a field, take a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CdpError(RuntimeError):
    pass


class Browser:
    """One Chromium process and its browser-level DevTools websocket."""

    def __init__(self, process: asyncio.subprocess.Process, session: aiohttp.ClientSession) -> None:
        self.process = process
        self.session = session
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def launch(cls, binary: str, profile: Path, timeout: float = 30.0) -> Browser:
        profile.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        browser = cls(process, aiohttp.ClientSession())
        try:
            port_file = profile / "DevToolsActivePort"
            async with asyncio.timeout(timeout):
                while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
                    if process.returncode is not None:
                        raise CdpError(f"chromium exited with {process.returncode} before opening DevTools")
                    await asyncio.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            browser.socket = await browser.session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
            browser._reader = asyncio.create_task(browser._read())
        except BaseException:
            await browser.close()
            raise
        return browser

    async def _read(self) -> None:
        assert self.socket is not None
        async for message in self.socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                self._queue(data.get("sessionId", ""), data["method"]).put_nowait(data.get("params", {}))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(CdpError("the DevTools connection closed"))

    def _queue(self, session_id: str, method: str) -> asyncio.Queue[dict[str, Any]]:
        return self._events.setdefault(f"{session_id}/{method}", asyncio.Queue())

    async def send(self, method: str, session_id: str = "", timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        assert self.socket is not None
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        payload: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if session_id:
            payload["sessionId"] = session_id
        await self.socket.send_str(json.dumps(payload))
        async with asyncio.timeout(timeout):
            reply = await future
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def event(self, session_id: str, method: str, timeout: float = 30.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            return await self._queue(session_id, method).get()

    def drain(self, session_id: str, method: str) -> None:
        queue = self._queue(session_id, method)
        while not queue.empty():
            queue.get_nowait()

    async def new_page(
        self, *, width: int = 1000, height: int = 800, scale: float = 1.0, mobile: bool = False, script: bool = False
    ) -> Page:
        """A fresh tab, with page JavaScript disabled unless `script` (the reading room must not need it)."""
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        page = Page(self, attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Emulation.setScriptExecutionDisabled", value=not script)
        await page.send(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=scale, mobile=mobile
        )
        return page

    async def close(self) -> None:
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.send("Browser.close", timeout=5)
            await self.socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        await self.session.close()
        if self.process.returncode is None:
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class Page:
    """One tab, addressed through its flat DevTools session."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, self.session_id, **params)

    async def goto(self, url: str) -> None:
        """Navigate and wait for the load event (a 4xx page loads too; the status is the server's concern)."""
        self.browser.drain(self.session_id, "Page.loadEventFired")
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")
        if "loaderId" not in result:
            return  # a same-document navigation (only the #fragment changed): no new load event comes
        await self.browser.event(self.session_id, "Page.loadEventFired")

    async def _root(self) -> int:
        document = await self.send("DOM.getDocument", depth=0)
        return int(document["root"]["nodeId"])

    async def select_all(self, selector: str) -> list[int]:
        found = await self.send("DOM.querySelectorAll", nodeId=await self._root(), selector=selector)
        return [int(node) for node in found["nodeIds"]]

    async def select(self, selector: str) -> int:
        nodes = await self.select_all(selector)
        if not nodes:
            raise CdpError(f"no element matches {selector!r}")
        return nodes[0]

    async def text(self, selector: str) -> str:
        """The element's DOM text (its text nodes in order, like `textContent`), read without page script."""
        node = (await self.send("DOM.describeNode", nodeId=await self.select(selector), depth=-1))["node"]
        parts: list[str] = []

        def walk(current: dict[str, Any]) -> None:
            if current.get("nodeType") == 3:
                parts.append(current.get("nodeValue", ""))
            for child in current.get("children", []):
                walk(child)

        walk(node)
        return "".join(parts)

    async def attribute(self, selector: str, name: str) -> str | None:
        attributes = (await self.send("DOM.getAttributes", nodeId=await self.select(selector)))["attributes"]
        pairs = dict(zip(attributes[::2], attributes[1::2], strict=True))
        return pairs.get(name)

    async def box(self, selector: str) -> tuple[float, float]:
        """The element's top and bottom in CSS pixels, relative to the top of the visible viewport."""
        model = (await self.send("DOM.getBoxModel", nodeId=await self.select(selector)))["model"]
        ys = model["border"][1::2]
        return min(ys), max(ys)

    async def evaluate(self, expression: str) -> Any:
        """The value of a DevTools-side expression (allowed with page JavaScript disabled: no page script runs)."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    async def viewport(self) -> dict[str, Any]:
        metrics = await self.send("Page.getLayoutMetrics")
        return dict(metrics["cssVisualViewport"])

    async def type_and_submit(self, selector: str, text: str) -> None:
        """Focus a field, type, press Enter and wait for the next page (a plain form submit: no script)."""
        await self.send("DOM.focus", nodeId=await self.select(selector))
        await self.send("Input.insertText", text=text)
        self.browser.drain(self.session_id, "Page.loadEventFired")
        for kind in ("keyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                text="\r" if kind == "keyDown" else "",
            )
        await self.browser.event(self.session_id, "Page.loadEventFired")

    async def screenshot(self, path: Path, *, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = (await self.send("Page.getLayoutMetrics"))["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = base64.b64decode((await self.send("Page.captureScreenshot", **params))["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data
