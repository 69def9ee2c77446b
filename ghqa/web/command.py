"""``ghqa serve``: the local web page. Registered by the command line; imports the server's
parts only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cliopts import cache_dir_option

if TYPE_CHECKING:
    import socket

#: A token shorter than this is refused: it would be guessable.
MIN_TOKEN_CHARS = 16


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but a loopback address needs --token.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option(
    "--token",
    envvar="GHQA_SERVE_TOKEN",
    show_envvar=True,
    help="Require this token on every request (open the page once with ?token=...).",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@cache_dir_option("clones, indexes, traces and the question history")
def serve_command(
    host: str, port: int, token: str | None, no_browser: bool, cache_dir: Path | None
) -> None:
    """Open a page to ask questions and watch the engine work.

    The page lists past questions (kept under the cache directory) and opens any trace file
    written with --trace. It listens on 127.0.0.1 unless --host says otherwise.

    \b
    Examples:
      ghqa serve
      GHQA_SERVE_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe())') \\
        ghqa serve --host 0.0.0.0 --port 8080 --no-browser
    """
    import contextlib
    import threading
    import webbrowser

    import uvicorn

    from ..settings import Settings
    from .app import create_app
    from .security import is_loopback

    loopback = is_loopback(host)
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise click.ClickException(
            f"the token must be at least {MIN_TOKEN_CHARS} characters long: make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe())'"
        )
    if not loopback and not token:
        raise click.ClickException(
            f"listening on {host} lets other machines in: give --token (or GHQA_SERVE_TOKEN), "
            "which every request must then carry"
        )
    settings = Settings.resolve(cache_dir=cache_dir).check()
    app = create_app(settings, token=token, loopback_only=loopback)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    url = f"http://{_url_host(host)}:{bound}/"
    needs = " (open it once with ?token=YOUR_TOKEN)" if token else ""
    click.echo(f"ghqa serve: {url}{needs}")
    if not no_browser:
        local = f"http://{_url_host(host if loopback else '127.0.0.1')}:{bound}/"
        opened = local + (f"?token={token}" if token else "")
        threading.Timer(0.5, webbrowser.open, [opened]).start()
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        ws="none",
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=3,
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C once it has stopped
        uvicorn.Server(config).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``, or one clear error."""
    import os
    import socket

    try:
        infos = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(pick another --port, or --port 0 for any free one)"
        ) from None
    return sock


def _url_host(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host
