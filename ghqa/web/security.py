"""What keeps the page to its user: the access guard, response headers, and secret redaction.

- Bound to a loopback address without a token, only requests whose ``Host`` is a loopback name
  are served (a page elsewhere cannot reach the server through DNS rebinding).
- With a token, every request must carry it: once as ``?token=`` (which sets a cookie holding a
  keyed hash of it, never the token itself, and redirects to the same URL without it), or as an
  ``Authorization: Bearer`` header.
- Requests that change something (POST) must come from the page itself: a cross-site
  ``Origin`` or ``Sec-Fetch-Site`` is refused.
- Every response forbids inline scripts, framing and content from other hosts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..settings import Settings

COOKIE = "ghqa_session"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)


def is_loopback(host: str) -> bool:
    return host.strip("[]") in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def session_value(token: str) -> str:
    """What the cookie holds: a keyed hash of the token, useless anywhere else."""
    return hmac.new(token.encode(), b"ghqa-serve-session", hashlib.sha256).hexdigest()


class Guard:
    """ASGI middleware: host check, token check, same-origin POSTs, security headers."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool):
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.loopback_only and _hostname(host) not in LOOPBACK_NAMES:
            await _refuse(send, 421, "This server answers only on 127.0.0.1 and localhost.")
            return
        if self.token is not None:
            passed = self._check_token(scope, headers)
            if passed == "redirect":
                await self._redirect_without_token(scope, send)
                return
            if not passed:
                await _refuse(
                    send,
                    401,
                    "This ghqa server needs its token: open it once with ?token=YOUR_TOKEN, "
                    "or send Authorization: Bearer YOUR_TOKEN.",
                )
                return
        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and not _same_origin(headers, host):
            await _refuse(send, 403, "Cross-site requests are refused.")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in _HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _check_token(self, scope: Scope, headers: Headers) -> bool | str:
        assert self.token is not None
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer ") and hmac.compare_digest(
            auth[7:].strip().encode(), self.token.encode()
        ):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no session
            cookie = SimpleCookie()
        morsel = cookie.get(COOKIE)
        if morsel is not None and hmac.compare_digest(
            morsel.value.encode(), session_value(self.token).encode()
        ):
            return True
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = query.get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            return "redirect" if scope["method"] in ("GET", "HEAD") else True
        return False

    async def _redirect_without_token(self, scope: Scope, send: Send) -> None:
        assert self.token is not None
        query = [
            (k, v)
            for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            if k != "token"
        ]
        location = scope["path"] + (f"?{urlencode(query)}" if query else "")
        cookie = f"{COOKIE}={session_value(self.token)}; HttpOnly; SameSite=Lax; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1", "replace")),
                    (b"set-cookie", cookie.encode()),
                    *_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(headers: Headers, host: str) -> bool:
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1].lower() == host.lower()


async def _refuse(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Redactor:
    """Replaces every known secret in text (and in nested JSON values) with ``***``."""

    def __init__(self, secrets: Iterable[str | None]):
        found = {s for s in secrets if s and len(s) >= 8 and not s.isdigit()}
        self.secrets = sorted(found, key=len, reverse=True)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


def secrets_of(
    settings: Settings, env: Mapping[str, str] | None = None, *extra: str | None
) -> Redactor:
    """A redactor for the settings' keys and tokens, every environment variable whose name
    says it holds a secret, and ``extra`` (the server's own token)."""
    env = os.environ if env is None else env
    values: list[str | None] = [*settings.secret_values, *extra]
    values += [v for k, v in env.items() if _SECRET_NAME.search(k)]
    return Redactor(values)
