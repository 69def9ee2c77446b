"""Syntax highlighting on the server (Pygments): code as HTML lines, and the style sheet."""

from __future__ import annotations

import functools
from typing import Any

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.util import ClassNotFound

#: The CSS class every highlighted block carries (the style sheet is scoped to it).
SCOPE = "hl"
LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
#: Longer inputs are shown plain: highlighting them would hold the server up.
MAX_HIGHLIGHT_CHARS = 400_000


def lexer_for(language: str | None = None, filename: str | None = None) -> Lexer:
    """A lexer by language name (``python``, ``c``) or file name, plain text when unknown."""
    try:
        if language:
            return get_lexer_by_name(language.strip().lower(), stripnl=False, ensurenl=False)
        if filename:
            return get_lexer_for_filename(filename, stripnl=False, ensurenl=False)
    except ClassNotFound:
        pass
    return TextLexer(stripnl=False, ensurenl=False)


def lines_html(code: str, lexer: Lexer) -> list[Markup]:
    """``code`` highlighted, one balanced HTML fragment per line (a multi-line comment or
    string has its spans closed at each line end and reopened on the next)."""
    if not code:
        return []
    if len(code) > MAX_HIGHLIGHT_CHARS:
        lexer = TextLexer(stripnl=False, ensurenl=False)
    html = highlight(code, lexer, HtmlFormatter(nowrap=True))
    lines = html.split("\n")
    if code.endswith("\n") and lines and lines[-1] == "":
        lines.pop()
    wanted = code.count("\n") + (0 if code.endswith("\n") else 1)
    while len(lines) > wanted and lines[-1] == "":
        lines.pop()
    return [Markup(line) for line in lines]


def block_html(code: str, language: str | None = None, filename: str | None = None) -> Markup:
    """A ``<pre>`` block of highlighted code."""
    body = "\n".join(lines_html(code, lexer_for(language, filename)))
    return Markup(f'<pre class="{SCOPE}"><code>') + Markup(body) + Markup("</code></pre>")


@functools.cache
def style_sheet() -> str:
    """The highlighting colours: a light style, and a dark one for dark color schemes."""
    light, dark = (_scoped(style) for style in (LIGHT_STYLE, DARK_STYLE))
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"


def _scoped(style: str) -> str:
    """The style's token colours, without its page-wide rules and its background."""
    formatter: Any = HtmlFormatter(style=style)
    rules = str(formatter.get_style_defs(f".{SCOPE}")).splitlines()
    return "\n".join(r for r in rules if r.startswith(f".{SCOPE} ."))
