"""The text protocol: code blocks in model replies, tool-call arguments, prose answers."""

from __future__ import annotations

import ast
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ghqa.engine.protocol import (
    extract_code,
    fenced_spans,
    has_submission_prose,
    parse_tool_arguments,
)

# -- extract_code ----------------------------------------------------------------------------------


def test_prose_and_two_blocks() -> None:
    reply = (
        "I'll start by listing the scheduler files, then look for `calc_delta_fair`.\n\n"
        "```python\n"
        "files = [f for f in repo.files if f.startswith('kernel/sched/')]\n"
        "print(len(files), files[:5])\n"
        "```\n\n"
        "Then the definition:\n\n"
        "```py\n"
        "print(repo.definition('calc_delta_fair'))   \n"
        "```\n"
        "Let's see what it prints."
    )
    assert extract_code(reply) == [
        "files = [f for f in repo.files if f.startswith('kernel/sched/')]\n"
        "print(len(files), files[:5])",
        "print(repo.definition('calc_delta_fair'))",
    ]


def test_other_languages_are_ignored() -> None:
    reply = (
        "The C code is:\n```c\nstatic inline u64 calc_delta_fair(u64 delta)\n{\n}\n```\n"
        "```text\nprint('not code')\n```\n"
        '```json\n{"a": 1}\n```\n'
        "```bash\nls kernel/sched\n```\n"
        "```python3\nprint(repo.read('kernel/sched/fair.c', 289, 296))\n```\n"
    )
    assert extract_code(reply) == ["print(repo.read('kernel/sched/fair.c', 289, 296))"]


def test_untagged_fences_count_only_when_they_are_python() -> None:
    reply = (
        "```\nhits = repo.grep('vruntime')\nprint(hits[:3])\n```\n"
        "```\nkernel/sched/fair.c\n```\n"
        "```\nstatic int x = 1;\n```\n"
        "```\nThe answer is below.\n```\n"
    )
    assert extract_code(reply) == ["hits = repo.grep('vruntime')\nprint(hits[:3])"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("```repl\nx = 1\nprint(x)\n```", ["x = 1\nprint(x)"]),
        ("~~~python\nprint(1)\n~~~", ["print(1)"]),
        ("~~~\nprint(2)\n~~~", ["print(2)"]),
        ("````python\ns = '```'\nprint(s)\n````", ["s = '```'\nprint(s)"]),
        ("```Python title=cell\nprint(3)\n```", ["print(3)"]),
        ("```python\r\nprint(4)\r\n```", ["print(4)"]),
        ("```python\n>>> x = 2\n>>> print(x)\n... \n```", ["x = 2\nprint(x)"]),
        ("```python\nprint(5)```", ["print(5)"]),
        ("```python\n```", []),
        ("Use ```print(1)``` inline.", []),
    ],
)
def test_fence_variants(reply: str, expected: list[str]) -> None:
    assert extract_code(reply) == expected


def test_indented_fence_in_a_list_item() -> None:
    reply = (
        "Plan:\n"
        "1. Find the callers:\n"
        "   ```python\n"
        "   for c in repo.callers('update_curr'):\n"
        "       print(c)\n"
        "   ```\n"
        "2. Read them.\n"
    )
    assert extract_code(reply) == ["for c in repo.callers('update_curr'):\n    print(c)"]


def test_uniformly_indented_code_is_dedented() -> None:
    reply = "```python\n    x = 1\n    print(x)\n```"
    assert extract_code(reply) == ["x = 1\nprint(x)"]


def test_cut_off_final_fence_yields_partial_code() -> None:
    reply = (
        "```python\nprint('first')\n```\n"
        "Now the loop:\n```python\nfor path in repo.files:\n    if path.endswith('.c'):\n"
        "        print(repo.read(path, 1,"
    )
    blocks = extract_code(reply)
    assert blocks == [
        "print('first')",
        "for path in repo.files:\n    if path.endswith('.c'):\n        print(repo.read(path, 1,",
    ]


def test_minimax_invoke_with_tilde_fence() -> None:
    reply = (
        "I will search the scheduler for the weight computation.\n"
        '<invoke name="python">~~~python\n'
        "hits = repo.grep(r'__calc_delta')\n"
        "for h in hits[:10]:\n"
        "    print(h)\n"
        "~~~</invoke>\n"
    )
    assert extract_code(reply) == [
        "hits = repo.grep(r'__calc_delta')\nfor h in hits[:10]:\n    print(h)"
    ]


def test_invoke_with_raw_html_escaped_parameter() -> None:
    reply = (
        "<function_calls>\n"
        '<invoke name="run_python">\n'
        '<parameter name="code">for s in repo.symbols("kernel/sched/fair.c"):\n'
        "    if s.end - s.start &gt; 100 and s.kind != &quot;macro&quot;:\n"
        "        print(s.name, s.start &amp; 0xff)\n"
        "</parameter>\n"
        "</invoke>\n"
        "</function_calls>"
    )
    assert extract_code(reply) == [
        'for s in repo.symbols("kernel/sched/fair.c"):\n'
        '    if s.end - s.start > 100 and s.kind != "macro":\n'
        "        print(s.name, s.start & 0xff)"
    ]


def test_invoke_keeps_escapes_that_are_part_of_the_code() -> None:
    code = 'if a < b:\n    print("&lt;")'
    reply = f'<invoke name="python"><parameter name="code">{code}</parameter></invoke>'
    assert extract_code(reply) == [code]


def test_minimax_tool_call_container_and_unclosed_invoke() -> None:
    reply = (
        "<minimax:tool_call>\n"
        '<invoke name="python">\n'
        '<parameter name="code">print(1)</parameter>\n'
        "</invoke>\n"
        "</minimax:tool_call>\n"
        '<invoke name="python">\n<parameter name="code">print(2)\n'
    )
    assert extract_code(reply) == ["print(1)", "print(2)"]


def test_invoke_of_another_tool_is_not_code() -> None:
    reply = '<invoke name="submit"><parameter name="answer">42</parameter></invoke>'
    assert extract_code(reply) == []


def test_tool_call_json() -> None:
    reply = (
        "Let me check.\n<tool_call>\n"
        '{"name": "run_python", "arguments": {"code": "x = repo.read(\\"kernel/sched/fair.c\\", '
        '259, 284)\\nprint(x)"}}\n'
        "</tool_call>"
    )
    assert extract_code(reply) == ['x = repo.read("kernel/sched/fair.c", 259, 284)\nprint(x)']


def test_tool_call_json_with_string_arguments_and_qwen_markup() -> None:
    reply = (
        '<tool_call>{"name": "run_python", "arguments": "{\\"code\\": \\"print(1)\\"}"}'
        "</tool_call>\n"
        "<tool_call>\n<function=run_python>\n<parameter=code>\nprint(2)\n</parameter>\n"
        "</function>\n</tool_call>"
    )
    assert extract_code(reply) == ["print(1)", "print(2)"]


def test_python_tag() -> None:
    reply = "<|python_tag|>hits = repo.grep('sched_slice')\nprint(hits)<|eom_id|>"
    assert extract_code(reply) == ["hits = repo.grep('sched_slice')\nprint(hits)"]
    assert extract_code("Checking.<|python_tag|>print(1)\nprint(2") == ["print(1)\nprint(2"]


def test_fences_and_wrappers_keep_reply_order() -> None:
    reply = (
        "```python\nprint('a')\n```\n"
        '<invoke name="python"><parameter name="code">print("b")</parameter></invoke>\n'
        "```python\nprint('c')\n```"
    )
    assert extract_code(reply) == ["print('a')", 'print("b")', "print('c')"]


def test_fenced_spans() -> None:
    text = "a\n```c\nx\n```\nb\n~~~\ny"
    assert [text[s:e] for s, e in fenced_spans(text)] == ["```c\nx\n```", "~~~\ny"]


FRAGMENTS = [
    "```", "```python\n", "~~~", "~~~python\n", "\n", "    ", "print(1)", "x = (", "<invoke",
    '<invoke name="python">', "</invoke>", '<parameter name="code">', "</parameter>",
    "<tool_call>", "</tool_call>", '{"code": "', '"}', "<|python_tag|>", "<function_calls>",
    "<function=run_python>", "<parameter=code>", ">>> ", "&lt;", "{", "`",
]  # fmt: skip


@given(st.one_of(st.text(max_size=400), st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5))))
def test_extract_code_never_raises(reply: str | list[str]) -> None:
    text = reply if isinstance(reply, str) else "".join(reply)
    blocks = extract_code(text)
    assert all(isinstance(b, str) and b.strip() and b == b.rstrip() for b in blocks)
    assert isinstance(has_submission_prose(text), bool)


NAMES = st.sampled_from(["x", "total", "hits", "path", "repo_files", "n"])
WORDS = st.text(alphabet="abcdefghij XYZ0123456789.,:;-_/<>{}[]()~#=!?", max_size=20)
EXPRS = st.one_of(
    st.integers(-1000, 1000).map(str),
    NAMES,
    WORDS.map(lambda w: repr(w)),
    st.tuples(NAMES, WORDS).map(lambda t: f"{t[0]}({t[1]!r})"),
    st.tuples(NAMES, NAMES).map(lambda t: f"[{t[0]} for {t[0]} in {t[1]}]"),
)
STATEMENTS = st.one_of(
    st.tuples(NAMES, EXPRS).map(lambda t: f"{t[0]} = {t[1]}"),
    EXPRS.map(lambda e: f"print({e})"),
    st.tuples(NAMES, st.integers(0, 9)).map(lambda t: f"{t[0]} += {t[1]}"),
    st.just("import re"),
    st.just("pass"),
    WORDS.map(lambda w: f's = """{w}\n  {w}"""'),
)
SIMPLE = STATEMENTS | WORDS.map(lambda w: f"# {w}")
HEADERS = st.one_of(
    st.tuples(NAMES, NAMES).map(lambda t: f"for {t[0]} in {t[1]}:"),
    st.tuples(NAMES, st.integers(0, 9)).map(lambda t: f"if {t[0]} > {t[1]}:"),
    NAMES.map(lambda n: f"def f({n}):"),
    st.just("while False:"),
)
BLOCK = st.one_of(
    SIMPLE,
    st.tuples(HEADERS, STATEMENTS, st.lists(SIMPLE, max_size=2)).map(
        lambda t: "\n".join([t[0], *("    " + line for line in [t[1], *t[2]])])
    ),
)
PROGRAMS = st.tuples(
    st.lists(BLOCK, min_size=1, max_size=8),
    st.sampled_from(["", "\n", "  ", "\n\n  \n"]),
    st.booleans(),
).map(lambda t: ("\n\n" if t[2] else "\n").join(t[0]) + t[1])


@given(PROGRAMS)
def test_python_fence_round_trip(source: str) -> None:
    ast.parse(source)  # the strategy only makes valid Python
    assert "`" not in source
    assert extract_code(f"```python\n{source}\n```") == [source.rstrip()]


def test_extract_code_is_fast_on_big_replies() -> None:
    started = time.perf_counter()
    extract_code("```python\nprint(1)```\n" * 20_000)
    extract_code("<invoke name='python'>" * 20_000)
    extract_code("```\n" * 50_000)
    assert time.perf_counter() - started < 20  # loose: catches quadratic blowups (minutes)


# -- parse_tool_arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"code": "print(1)"}', {"code": "print(1)"}),
        ('  {"code": "x"}  ', {"code": "x"}),
        (None, {}),
        ("", {}),
        ('```json\n{"code": "print(2)"}\n```', {"code": "print(2)"}),
        ('{"code": "print(3)"} trailing words', {"code": "print(3)"}),
        ("Here: {'code': 'print(4)', 'done': true}", {"code": "print(4)", "done": True}),
        (
            '{"code": "for i in range(2):\n    print(i)"}',
            {"code": "for i in range(2):\n    print(i)"},
        ),
        ('{"code": "re.findall(\'\\d+\', s)"}', {"code": "re.findall('\\d+', s)"}),
        ('"print(5)"', {"code": "print(5)"}),
        ('"{\\"answer\\": \\"x\\"}"', {"answer": "x"}),
        ("print(repo.files[:3])", {"code": "print(repo.files[:3])"}),
    ],
)
def test_parse_tool_arguments_lenient(raw: str | None, expected: dict[str, object]) -> None:
    assert parse_tool_arguments(raw) == (expected, None)


@pytest.mark.parametrize("raw", ['{"code": ', "[1, 2]", "42", "this is not code at all", "{{{"])
def test_parse_tool_arguments_errors(raw: str) -> None:
    obj, problem = parse_tool_arguments(raw)
    assert obj is None
    assert problem is not None and problem.startswith("invalid JSON in tool arguments: ")
    assert "\n" not in problem and len(problem) < 200


@given(
    st.one_of(st.none(), st.text(max_size=200), st.text(alphabet="{}[]\":,'\\ ntrue", max_size=60))
)
def test_parse_tool_arguments_never_raises(raw: str | None) -> None:
    obj, problem = parse_tool_arguments(raw)
    assert (obj is None) != (problem is None)


# -- has_submission_prose --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "FINAL(The vruntime is scaled by calc_delta_fair.)",
        "I have enough.\nFINAL_VAR(answer)",
        "Final answer: it divides by the weight using a fixed-point inverse.",
        "**Final Answer:** see above",
        "## Answer\n\ncalc_delta_fair avoids the division by ...",
        "Answer: it uses inv_weight.",
    ],
)
def test_submission_prose_detected(reply: str) -> None:
    assert has_submission_prose(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "Let me look at the code first.\n```python\nprint(repo.files[:5])\n```",
        "```python\nsubmit(FINAL(x))\n```",
        "The answer depends on what calc_delta_fair prints; let me check.",
        "```text\n## Answer\n```",
        "In the final (third) step it reweights the entity.",
    ],
)
def test_submission_prose_not_detected(reply: str) -> None:
    assert not has_submission_prose(reply)
