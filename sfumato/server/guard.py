"""Request guards: the API token (required whenever the server listens beyond this machine) and body size.

Both are plain ASGI middleware so they run before any route reads the body.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# The page shell and its static files hold no data, so a browser can load them and then ask for the token.
OPEN_PREFIXES: Final[tuple[str, ...]] = ("/static/",)
OPEN_PATHS: Final[frozenset[str]] = frozenset({"/", "/favicon.ico"})
LOOPBACK_HOSTS: Final[frozenset[str]] = frozenset({"127.0.0.1", "localhost", "::1"})


async def _reply(send: Send, status: int, body: dict[str, Any], headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


def presented_token(scope: Scope) -> str | None:
    """The token a request carries: `Authorization: Bearer T`, HTTP Basic with T as password, or `?token=T`
    (for <img> and EventSource, which cannot set headers)."""
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":  # A1111 clients (webuiapi set_auth) send --api-auth as Basic
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query.get("token", [None])[0]


class TokenGuard:
    """Refuse (401) every request but the page shell unless it presents the token."""

    def __init__(self, app: App, *, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        given = presented_token(scope)
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            await self.app(scope, receive, send)
            return
        await _reply(send, 401, {"error": "Unauthorized", "detail": "this server needs its API token",
                                 "hint": "send 'Authorization: Bearer TOKEN' (or ?token=TOKEN)"},
                     ((b"www-authenticate", b"Bearer"),))


class BodyLimit:
    """Refuse (413) bodies over `max_bytes`, by Content-Length up front or by counting a streamed body."""

    def __init__(self, app: App, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _reply(send, 413, self._refusal(int(length)))
            return
        if length is not None:
            await self.app(scope, receive, send)  # the server reads no more than Content-Length says
            return
        # A streamed (chunked) body: read it up to the limit before the app sees any of it, then replay it.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await _reply(send, 413, self._refusal(seen))
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    def _refusal(self, size: int) -> dict[str, Any]:
        return {"error": "RequestTooLarge",
                "detail": f"request body: at most {self.max_bytes} bytes allowed, got {size} or more"}
