"""Languages: which file is which language, and the tree-sitter grammar and queries for it."""

from __future__ import annotations

import functools
import importlib
from importlib import resources
from pathlib import PurePosixPath

import tree_sitter as ts

#: language -> (module, function) of the grammar wheel that provides it.
GRAMMARS: dict[str, tuple[str, str]] = {
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "python": ("tree_sitter_python", "language"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "java": ("tree_sitter_java", "language"),
}

_EXTENSIONS: dict[str, str] = {
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hh": "cpp", ".hpp": "cpp",
    ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".inl": "cpp",
    ".py": "python", ".pyi": "python",
    ".go": "go",
    ".rs": "rust",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "tsx",
    ".java": "java",
    # Known languages without a grammar here: indexed at file level only.
    ".rb": "ruby", ".php": "php", ".cs": "csharp", ".kt": "kotlin", ".kts": "kotlin",
    ".swift": "swift", ".scala": "scala", ".m": "objc", ".mm": "objcpp", ".lua": "lua",
    ".pl": "perl", ".pm": "perl", ".sh": "shell", ".bash": "shell", ".zsh": "shell",
    ".S": "asm", ".s": "asm", ".asm": "asm", ".zig": "zig", ".hs": "haskell", ".ml": "ocaml",
    ".ex": "elixir", ".exs": "elixir", ".erl": "erlang", ".clj": "clojure", ".r": "r",
    ".R": "r", ".jl": "julia", ".dart": "dart", ".sql": "sql", ".proto": "protobuf",
    ".md": "markdown", ".rst": "rst", ".txt": "text", ".json": "json", ".yml": "yaml",
    ".yaml": "yaml", ".toml": "toml", ".xml": "xml", ".html": "html", ".css": "css",
    ".scss": "scss", ".cmake": "cmake", ".mk": "make", ".rl": "ragel",
}  # fmt: skip

_FILENAMES: dict[str, str] = {
    "Makefile": "make", "GNUmakefile": "make", "Kbuild": "make", "Kconfig": "kconfig",
    "CMakeLists.txt": "cmake", "Dockerfile": "dockerfile", "Rakefile": "ruby",
}  # fmt: skip


def language_for(path: str) -> str | None:
    """The language of ``path`` from its name, or ``None`` when unknown."""
    p = PurePosixPath(path)
    if p.name in _FILENAMES:
        return _FILENAMES[p.name]
    suffix = p.suffix
    return _EXTENSIONS.get(suffix) or _EXTENSIONS.get(suffix.lower())


def has_grammar(lang: str | None) -> bool:
    return lang in GRAMMARS


@functools.cache
def grammar(lang: str) -> ts.Language:
    module, func = GRAMMARS[lang]
    return ts.Language(getattr(importlib.import_module(module), func)())


@functools.cache
def tags_query(lang: str) -> ts.Query:
    """The tags query for ``lang`` from ``queries/<lang>.scm`` (package data): definition and
    reference patterns together, so one walk of the tree finds both."""
    name = "typescript" if lang == "tsx" else lang
    scm = resources.files("ghqa.index").joinpath("queries").joinpath(f"{name}.scm")
    text: str = scm.read_text()
    query: ts.Query = ts.Query(grammar(lang), text)
    return query


@functools.cache
def parser(lang: str) -> ts.Parser:
    return ts.Parser(grammar(lang))
