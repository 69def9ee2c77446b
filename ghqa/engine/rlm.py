"""The ``rlm`` strategy: the root model explores the repository from a sandboxed REPL.

The root model never sees repository text it did not ask for: its context holds the question,
metadata, its own code and the (truncated) output of that code. Code runs in the sandbox
worker; ``repo.*`` and ``llm_query*`` calls come back to this process, which serves them from
the index and the model client, inside the budget.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources
from typing import Any

from ..errors import EngineError
from . import prompts
from .answer import Citation
from .budget import BudgetExceeded
from .chunks import file_chunks
from .citations import coerce_citations, parse_citations
from .context import question_terms
from .models import Completion, Message, ModelReplyError, ToolsUnsupported
from .protocol import extract_code, parse_tool_arguments
from .run import Draft, Run
from .sandbox import CellResult, HostCallError, Sandbox, SandboxLimits
from .workspace import FileNotReadable

#: Printed output returned to the root model is cut to this many characters (head and tail).
OUTPUT_LIMIT = 6000
#: Prompts one ``llm_query_batched`` call may carry.
MAX_BATCH = 32
#: Consecutive replies without code before the engine gives up on the REPL protocol.
PROTOCOL_STRIKES = 2


class ProtocolFailure(EngineError):
    """The model did not follow the REPL protocol; the engine falls back to ``chunked``."""


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """Head and tail of ``text``, stating its true length when cut."""
    if not text.strip():
        return "(no output; did you forget to print?)"
    if len(text) <= limit:
        return text
    half = limit // 2
    omitted = len(text) - 2 * half
    return (
        f"{text[:half]}\n... [output is {len(text):,} characters; {omitted:,} omitted from the "
        f"middle] ...\n{text[-half:]}"
    )


def prelude_source() -> str:
    return resources.files(__package__).joinpath("repl_prelude.py").read_text(encoding="utf-8")


class Host:
    """Serves the worker's host calls from the workspace and the models."""

    def __init__(self, run: Run, parent: int | None = None):
        self.run = run
        self.parent = parent
        self.read: list[tuple[str, int, int]] = []
        self.whole: set[str] = set()  # files whose whole text the code fetched
        self.sub_calls = 0

    def has_read(self, citation: Citation) -> bool:
        """Whether the run's code read any line of ``citation``."""
        return citation.path in self.whole or any(
            p == citation.path and s <= citation.end and citation.start <= e
            for p, s, e in self.read
        )

    def __call__(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        ws = self.run.ws
        try:
            if name == "repo.files":
                return [[p, ws.entries[p].size, ws.entries[p].lang] for p in ws.readable]
            if name == "repo.text":
                path = ws.resolve(str(args[0]))
                text = ws.text(path)
                self.whole.add(path)
                return [path, text]
            if name == "repo.note_read":
                span = (ws.resolve(str(args[0])), int(args[1]), int(args[2]))
                self.read.append(span)
                self.run.show([span])
                return None
            if name == "repo.symbols":
                return self._symbols(**kwargs)
            if name == "repo.definitions":
                return [
                    [s.path, s.line, s.end_line, s.kind, s.name]
                    for s in ws.index.definitions(str(args[0]))
                    if s.path in ws.entries
                ][:50]
            if name in ("repo.callers", "repo.callees"):
                refs = getattr(ws.index, name.split(".")[1])(str(args[0]))
                return [[r.path, r.line, r.name, r.caller] for r in refs][:500]
            if name == "repo.chunks":
                paths = args[0] or ws.readable
                chosen = [ws.resolve(p) for p in paths if p in ws.entries] or [
                    p for p in ws.readable if any(p.startswith(q.rstrip("/") + "/") for q in paths)
                ]
                return [
                    [c.path, c.start, c.end, c.tokens, list(c.symbols)]
                    for p in chosen
                    for c in file_chunks(ws, p, max(500, int(args[1])))
                ]
            if name == "llm_query":
                return self._queries([str(args[0])])[0]
            if name == "llm_query_batched":
                prompts_in = [str(p) for p in args[0]]
                if len(prompts_in) > MAX_BATCH:
                    raise HostCallError(
                        f"at most {MAX_BATCH} prompts per batch (got {len(prompts_in)}): "
                        "use bigger slices"
                    )
                return self._queries(prompts_in)
        except FileNotReadable as exc:
            raise HostCallError(str(exc)) from None
        except (TypeError, ValueError, IndexError) as exc:
            raise HostCallError(f"bad arguments to {name}: {exc}") from None
        raise HostCallError(f"unknown function {name}")

    def _symbols(self, **kw: Any) -> list[list[Any]]:
        ws = self.run.ws
        contains = kw.pop("contains", None)
        if contains:
            found = ws.index.matching(str(contains), limit=500)
            found = [
                s
                for s in found
                if (kw.get("kind") is None or s.kind == kw["kind"])
                and (not kw.get("path") or s.path.startswith(str(kw["path"]).strip("/")))
            ]
        else:
            found = ws.index.symbols(**{k: v for k, v in kw.items() if v is not None})
        rows = [[s.path, s.line, s.end_line, s.name, s.kind, s.scope] for s in found]
        return [r for r in rows if r[0] in ws.entries][:2000]

    def _queries(self, prompts_in: list[str]) -> list[str]:
        if not prompts_in:
            return []
        run = self.run
        self.sub_calls += len(prompts_in)
        run.report(f"sub-calls: {len(prompts_in)}", batch=len(prompts_in))
        batch = run.trace.event("sub_batch", self.parent, size=len(prompts_in))
        results = run.models.batch(prompts_in, parent=batch)
        out: list[str] = []
        for r in results:
            if isinstance(r, BudgetExceeded):
                if len(prompts_in) == 1:
                    raise HostCallError(f"budget: {r.reason}")
                out.append(f"[error: budget: {r.reason}]")
            elif isinstance(r, Exception):
                if len(prompts_in) == 1:
                    raise HostCallError(str(r))
                out.append(f"[error: {r}]")
            else:
                out.append(r)
        return out


def metadata(run: Run) -> str:
    """What the root model is told about the repository: shape, not content."""
    ws = run.ws
    files = [ws.entries[p] for p in ws.readable]
    langs = Counter(f.lang or "other" for f in files)
    biggest = sorted(files, key=lambda f: -f.size)[:15]
    stats = ws.index.stats()
    named = [t for t in question_terms(run.question)[:10] if ws.index.definitions(t)]
    lines = [
        f"{len(files)} files, {sum(f.size for f in files):,} bytes "
        f"(~{sum(f.size for f in files) // 4:,} tokens); {stats['symbols']:,} definitions.",
        "Languages: " + ", ".join(f"{k} {v}" for k, v in langs.most_common()),
        "Largest files: " + ", ".join(f"{f.path} ({f.size:,} B)" for f in biggest),
    ]
    if named:
        lines.append("Defined symbols named in the question: " + ", ".join(named))
    return "\n".join(lines)


class Loop:
    """The root model's turns, the REPL cells they run, and the end of the run."""

    def __init__(self, run: Run):
        self.run = run
        self.use_tools = run.settings.tools != "off" and run.models.tools_supported
        self.messages: list[Message] = []
        self.turn = 0
        self.ran_code = False
        self.strikes = 0
        self.errors = 0
        self.citation_retry_used = False
        self.submission: dict[str, Any] | None = None
        self.last_draft: str | None = None
        self.pending_feedback: str | None = None
        self.cells_ok = 0
        self.refused = False  # a submission was refused once; the next refusal ends the run
        self.stop_reason = ""
        self.host: Host | None = None

    def system_message(self) -> Message:
        protocol = prompts.TOOLS_PROTOCOL if self.use_tools else prompts.TEXT_PROTOCOL
        content = prompts.RLM_SYSTEM.format(
            repo=self.run.label, commit=self.run.commit[:12], protocol=protocol
        )
        return {"role": "system", "content": content}

    def start_messages(self) -> None:
        run = self.run
        self.messages = [
            self.system_message(),
            {
                "role": "user",
                "content": prompts.RLM_USER.format(
                    question=run.question,
                    repo=run.label,
                    commit=run.commit[:12],
                    paths=", ".join(run.ws.index.checkout.paths) or "(whole repository)",
                    metadata=metadata(run),
                ),
            },
        ]

    def go(self) -> Draft:
        run = self.run
        limits = SandboxLimits(cell_timeout=run.settings.cell_timeout)
        step = run.trace.event("strategy", name="rlm", tools=self.use_tools)
        host = self.host = Host(run, step)
        self.start_messages()
        with Sandbox(host, limits, prelude=prelude_source()) as box:
            run.trace.event("sandbox", step, layers=sorted(box.layers))
            reason = self._turns(box, host, step)
        if self.submission is not None:
            return self._draft_from_submission(self.submission)
        return self._partial(reason, host)

    def _turns(self, box: Sandbox, host: Host, step: int) -> str:
        run = self.run
        max_iter = run.budget.limits.max_iterations
        while True:
            if self.turn >= max_iter:
                return f"the limit of {max_iter} REPL turns was reached"
            self.turn += 1
            turn = run.trace.event("turn", step, n=self.turn)
            run.report(f"rlm: turn {self.turn}", turn=self.turn)
            try:
                reply = run.models.complete(
                    self.messages,
                    role="root",
                    tools=prompts.TOOLS if self.use_tools else None,
                    parent=turn,
                )
            except ToolsUnsupported:
                if run.settings.tools == "on":
                    raise
                self.use_tools = False
                self.messages[0] = self.system_message()
                self.turn -= 1
                run.trace.event("protocol", turn, change="tools unsupported; text protocol")
                continue
            except BudgetExceeded as exc:
                return exc.reason
            except ModelReplyError as exc:
                self.errors += 1
                if self.errors >= run.budget.limits.max_errors:
                    return f"{self.errors} failed turns in a row (last: {exc})"
                continue
            done = self._handle(reply, box, turn)
            if done:
                return self.stop_reason
            if self.errors >= run.budget.limits.max_errors:
                return f"{self.errors} failed turns in a row"

    def _handle(self, reply: Completion, box: Sandbox, turn: int) -> bool:
        """Act on one reply; True when the run is over."""
        if reply.tool_calls and self.use_tools:
            return self._handle_tools(reply, box, turn)
        self.messages.append({"role": "assistant", "content": reply.content})
        blocks = extract_code(reply.content)
        if not blocks:
            self.strikes += 1
            self.errors += 1
            if not self.ran_code and self.strikes >= PROTOCOL_STRIKES:
                raise ProtocolFailure("the model did not write code for the REPL")
            self.messages.append({"role": "user", "content": prompts.NO_CODE})
            return False
        self.strikes = 0
        outputs = []
        for i, code in enumerate(blocks, 1):
            result = self._run_cell(box, code, turn)
            label = f"Output of block {i}:\n" if len(blocks) > 1 else ""
            outputs.append(label + self._cell_text(result))
            if result.submitted is not None:
                return self._take_submission(result.submitted, "\n\n".join(outputs))
        self.messages.append({"role": "user", "content": "\n\n".join(outputs)})
        return False

    def _handle_tools(self, reply: Completion, box: Sandbox, turn: int) -> bool:
        self.messages.append(
            {
                "role": "assistant",
                "content": reply.content or None,
                "tool_calls": [
                    {
                        "id": tc.id,
                        "type": "function",
                        "function": {"name": tc.name, "arguments": tc.arguments},
                    }
                    for tc in reply.tool_calls
                ],
            }
        )
        finished = False
        for tc in reply.tool_calls:
            args, problem = parse_tool_arguments(tc.arguments)
            if finished:
                text = "(not run: the answer was already submitted)"
            elif problem is not None or args is None:
                self.errors += 1
                text = f"Error: {problem or 'no arguments'}. Send valid JSON arguments."
            elif tc.name == "run_python":
                result = self._run_cell(box, str(args.get("code", "")), turn)
                text = self._cell_text(result)
                if result.submitted is not None:
                    finished = self._take_submission(result.submitted, None)
            elif tc.name == "submit":
                finished = self._take_submission(args, None)
                text = self.pending_feedback or "Submitted."
            else:
                self.errors += 1
                text = f"Error: unknown tool {tc.name!r}; use run_python or submit."
            self.messages.append({"role": "tool", "tool_call_id": tc.id, "content": text})
            self.pending_feedback = None
        return finished

    def _run_cell(self, box: Sandbox, code: str, turn: int) -> CellResult:
        run = self.run
        result = box.run(code)
        self.ran_code = True
        if result.error:
            self.errors += 1
        else:
            self.errors = 0
            self.cells_ok += 1
        run.trace.event(
            "cell",
            turn,
            code=code,
            output=result.output,
            error=result.error,
            seconds=round(result.duration, 3),
            restarted=result.restarted,
            submitted=result.submitted is not None,
        )
        return result

    def _cell_text(self, result: CellResult) -> str:
        text = result.output
        if result.error:
            text = (text + "\n" if text.strip() else "") + result.error
        return truncate(text)

    def _take_submission(self, raw: dict[str, Any], outputs: str | None) -> bool:
        """Accept a submission, or answer why not; True when accepted."""
        answer = str(raw.get("answer") or "").strip()
        cites = coerce_citations(raw.get("citations")) + parse_citations(answer)
        feedback = None
        if self.turn == 1 or not self.ran_code:
            # Nothing submitted before the model has seen what its code printed.
            feedback = prompts.EARLY_SUBMIT
        elif not answer:
            feedback = "The answer was empty. Submit the answer text with its citations."
        elif (refusal := self._refusal(answer, cites)) is not None:
            if self.refused:
                self.stop_reason = f"the submitted answer was refused: {refusal}"
                return True  # ends the run, partial, without this submission
            self.refused = True
            feedback = f"This answer cannot be accepted: {refusal}. {prompts.REFUSED_SUBMIT}"
        else:
            self.last_draft = answer
            verified, dropped = self.run.verify(cites)
            if not verified and not self.citation_retry_used:
                self.citation_retry_used = True
                problems = "\n".join(f"- {d.citation.label}: {d.reason}" for d in dropped[:10])
                feedback = prompts.BAD_CITATIONS.format(
                    problems=problems or "- (no citations were given)"
                )
            else:
                self.submission = {"answer": answer, "citations": cites}
                return True
        if outputs is not None:
            self.messages.append({"role": "user", "content": f"{outputs}\n\n{feedback}"})
        else:
            self.pending_feedback = feedback
        return False

    def _refusal(self, answer: str, cites: list[Citation]) -> str | None:
        """Why a submission is refused outright: no code cell ran without an error, the answer
        is a template's placeholder, or it cites lines the run never read."""
        if self.cells_ok == 0:
            return "no code cell has run without an error, so nothing was read"
        if _PLACEHOLDER.search(answer) or len(_WORDS.findall(answer)) < 3:
            return "it is a placeholder, not an answer"
        unread = [c.label for c in cites if self.host is not None and not self.host.has_read(c)]
        if unread and len(unread) == len(cites):
            return f"it cites lines the code never read ({', '.join(unread[:4])})"
        return None

    def _draft_from_submission(self, sub: dict[str, Any]) -> Draft:
        cites: list[Citation] = sub["citations"]
        return Draft(sub["answer"], citations=cites)

    def _partial(self, reason: str, host: Host) -> Draft:
        """The best answer when the loop ended without an accepted submission."""
        reason = reason or "the model stopped without submitting an answer"
        text = self.last_draft
        if text is None and self.cells_ok:  # something was read: one last call to say it
            text = self._extract(reason)
        read = [Citation(p, s, e) for p, s, e in host.read[-8:]]
        if not text:
            places = ", ".join(f"`{c.label}`" for c in read) or "nothing yet"
            text = f"No answer was reached ({reason}). Code looked at: {places}."
        return Draft(
            text, citations=read if not parse_citations(text) else [], partial=True, reason=reason
        )

    def _extract(self, reason: str) -> str | None:
        """One last call without tools: the best answer from what the run saw."""
        messages = self._as_text()
        messages.append({"role": "user", "content": prompts.EXTRACT_USER.format(reason=reason)})
        try:
            reply = self.run.models.complete(messages, role="root")
        except (BudgetExceeded, EngineError):
            return None
        return reply.content.strip() or None

    def _as_text(self) -> list[Message]:
        """The conversation with tool exchanges turned into plain text, which every server
        accepts without tools."""
        out: list[Message] = []
        for m in self.messages:
            if m.get("tool_calls"):
                blocks = []
                for tc in m["tool_calls"]:
                    args = parse_tool_arguments(tc["function"]["arguments"])[0] or {}
                    body = args.get("code") or json.dumps(args)
                    blocks.append(f"{tc['function']['name']}:\n```python\n{body}\n```")
                out.append({"role": "assistant", "content": "\n\n".join(blocks)})
            elif m.get("role") == "tool":
                out.append({"role": "user", "content": f"Output:\n{m['content']}"})
            else:
                out.append(m)
        return out


#: What template answers look like ("Your answer here", "<answer>", "TODO", "...").
_PLACEHOLDER = re.compile(
    r"\A\W*(?:your answer(?: here| goes here)?|answer(?: here)?|<[^>\n]{0,40}>|"
    r"todo|tbd|placeholder|lorem ipsum\b.*|\.\.\.|…)\W*\Z|\byour answer (?:here|goes here)\b",
    re.IGNORECASE | re.DOTALL,
)
_WORDS = re.compile(r"\w+")


def answer_rlm(run: Run) -> Draft:
    return Loop(run).go()
