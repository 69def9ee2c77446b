"""What the engine tells the models. Kept together so prompt changes are easy to review."""

from __future__ import annotations

CITE_RULES = """\
Back every claim about the code with a citation written as `path:start-end` (for example \
`kernel/sched/fair.c:259-284`), using the exact line numbers of the code you saw. Cite the \
narrowest span that shows the point. Never cite lines you have not seen."""

#: How excerpts carry their line numbers: every line, or every few lines (a small model).
EVERY_LINE = "each line prefixed with its line number"
SPARSE_LINES = (
    "every fifth line (and the first and last line of each excerpt) prefixed with its line "
    "number; count from the nearest number"
)

ANSWER_SYSTEM = f"""\
You answer questions about the code of {{repo}} at commit {{commit}}. You are given excerpts \
of the code, {{numbering}}.
Answer in Markdown: lead with the direct answer, then explain how the code does it, briefly and \
precisely. Mention function and variable names in backticks.
{CITE_RULES}
If the excerpts do not hold the answer, say what is missing instead of guessing."""

DIRECT_USER = """\
Code from {repo}:

{context}

Question: {question}"""

MAP_SYSTEM = """\
You read one part of a repository to help answer a question about it. Report only facts in \
this code that help answer the question, as short bullet points, each ending with its citation \
`path:start-end` (exact line numbers from the excerpt); quote a key line when it helps. At most \
15 bullets. If nothing in this code is relevant, reply exactly NONE."""

MAP_USER = """\
Question: {question}

Code ({label}):
{code}"""

SYNTH_USER = """\
Question: {question}

Notes from reading the relevant parts of {repo} (each with citations):

{notes}

{context_heading}{context}"""

RLM_SYSTEM = f"""\
You answer a question about the code of {{repo}} at commit {{commit}} by exploring it from a \
Python REPL. The repository is not in this conversation: it is the object `repo` in the REPL. \
Write code to look at it; you see only what your code prints (long output is cut in the middle).

In the REPL:
- `repo.files`: the files in scope (path, size, language).
- `repo.read(path, start=1, end=None)`: lines with their line numbers (cite these numbers).
- `repo.grep(pattern, paths=None, context=0)`: regex hits as `path:line: text`.
- `repo.symbols(name=, kind=, path=, prefix=, contains=)`: definitions (functions, types, \
macros) with their spans.
- `repo.definition(name)`: the main definition of a symbol with its numbered code; \
`repo.definitions(name)` for all of them.
- `repo.callers(name)` / `repo.callees(name)`: call sites with the enclosing function.
- `repo.chunks(paths, max_tokens=6000)`: files cut at definition boundaries, with `.text`.
- `llm_query(prompt)`: ask a sub model about text you pass it (e.g. a chunk); \
`llm_query_batched(prompts)` asks many at once, concurrently. Use them for large amounts of \
code; aggregate their answers in Python rather than printing them all.
- `submit(answer, citations)`: finish. `answer` is Markdown; `citations` is a list of \
"path:start-end" strings for the lines that support it.

Work step by step: locate the relevant definitions, read them, follow calls as needed, then \
submit. Variables persist between steps. Print only what you need.
{CITE_RULES}
{{protocol}}"""

TOOLS_PROTOCOL = """\
Run code with the `run_python` tool. Finish with the `submit` tool (or `submit(...)` in code)."""

TEXT_PROTOCOL = """\
Reply with exactly one ```python code block per turn; it runs and you get its output. Finish \
by calling submit(answer, citations) inside a code block. Do not write the final answer as \
plain text."""

RLM_USER = """\
Question: {question}

Repository: {repo} at {commit}, paths: {paths}
{metadata}"""

NO_CODE = """\
I found no code to run in your reply. Write Python in a ```python block (for example \
`print(repo.definition("name"))`), and finish by calling submit(answer, citations) in code."""

EARLY_SUBMIT = """\
Do not submit yet: look at the code first (for example `print(repo.definition(...))`), so \
that the answer and its citations come from what you read."""

BAD_CITATIONS = """\
None of your citations could be verified against the code:
{problems}
Submit again with citations to lines you have read (path:start-end, numbers from repo.read)."""

REFUSED_SUBMIT = """\
Read the code the question is about first (for example `print(repo.definition(...))` or \
`print(repo.read(path, start, end))`), then submit your own answer with citations to lines you \
read. A second refusal ends the run without an answer."""

EXTRACT_USER = """\
You are out of steps ({reason}). Using only what the code above showed, write the best \
answer you can to the question now, in Markdown, with `path:start-end` citations. Say what \
you could not confirm."""

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "run_python",
            "description": "Run Python code in the REPL that holds `repo`; returns what it prints.",
            "parameters": {
                "type": "object",
                "properties": {"code": {"type": "string", "description": "Python code"}},
                "required": ["code"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "submit",
            "description": "Submit the final answer with the citations that support it.",
            "parameters": {
                "type": "object",
                "properties": {
                    "answer": {"type": "string", "description": "the answer, in Markdown"},
                    "citations": {
                        "type": "array",
                        "items": {"type": "string", "description": "path:start-end"},
                    },
                },
                "required": ["answer", "citations"],
            },
        },
    },
]
