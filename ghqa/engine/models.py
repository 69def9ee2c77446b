"""Model calls through the ``openai`` client, to any OpenAI-compatible server.

One :class:`Models` serves a question: it resolves the root and sub model, checks the budget
before each call, answers from the response cache when it can, retries 429/5xx/timeouts (the
client's own backoff, which honours ``Retry-After``), copes with servers that want
``max_completion_tokens`` instead of ``max_tokens`` or that do not support tools, accounts
usage and cost, and writes every call to the trace.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import EngineError, NeedsKeyError
from ..reporter import Reporter, null_reporter
from ..settings import Settings
from .budget import Budget, BudgetExceeded
from .cache import ResponseCache, cache_key
from .trace import Trace

if TYPE_CHECKING:
    import openai

OPENAI_URL = "https://api.openai.com/v1"
Message = dict[str, Any]

#: Models that take ``max_completion_tokens`` (OpenAI's reasoning models).
_COMPLETION_TOKENS_MODELS = re.compile(r"^(o\d|gpt-5)", re.IGNORECASE)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Completion:
    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency: float
    cached: bool


class ToolsUnsupported(EngineError):
    """The server rejected a request because it carried tools."""


class ModelReplyError(EngineError):
    """The server answered, but with something unusable (no choices, garbage)."""


class ModelSkipped(BudgetExceeded):
    """A dry run stops where a model call would be made (what it would have seen is known)."""

    def __init__(self) -> None:
        super().__init__("stopped before the model call (a dry run)")


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters a token for code and English)."""
    return len(text) // 4 + 1


def _messages_tokens(messages: Sequence[Message]) -> int:
    return sum(estimate_tokens(json.dumps(m, ensure_ascii=False)) for m in messages)


class Models:
    """The root and sub model of one question, with budget, cache, usage and trace."""

    def __init__(
        self,
        settings: Settings,
        budget: Budget,
        cache: ResponseCache,
        trace: Trace,
        reporter: Reporter = null_reporter,
        dry_run: bool = False,
    ):
        self.settings = settings
        self.budget = budget
        self.cache = cache
        self.trace = trace
        self.reporter = reporter
        self.dry_run = dry_run
        self.base_url = (settings.base_url or OPENAI_URL).rstrip("/")
        if not settings.api_key and not settings.base_url and not dry_run:
            raise NeedsKeyError(
                "no model configured: set OPENAI_API_KEY (or GHQA_API_KEY), or point "
                "GHQA_BASE_URL at an OpenAI-compatible server"
            )
        import openai  # here, not at the top: it takes a quarter second to import

        self.client = openai.OpenAI(
            api_key=settings.api_key or "not-needed",
            base_url=self.base_url,
            timeout=settings.request_timeout,
            max_retries=settings.retries,
        )
        self.tools_supported = settings.tools != "off"
        self._token_param: dict[str, str] = {}
        self._lock = threading.Lock()
        self._root: str | None = settings.model
        self._prices = settings.prices

    @property
    def root(self) -> str:
        if self._root is None and self.dry_run:
            self._root = "(no model)"
        if self._root is None:
            self._root = self._first_served_model()
        return self._root

    @property
    def sub(self) -> str:
        return self.settings.sub_model or self.root

    def close(self) -> None:
        self.client.close()

    def _first_served_model(self) -> str:
        import openai

        try:
            listed = [m.id for m in self.client.models.list()]
        except openai.APIError as exc:
            raise explain_api_error(exc, self.base_url, "(default)") from None
        if not listed:
            raise EngineError(f"{self.base_url} serves no models: name one with --model")
        return listed[0]

    def complete(
        self,
        messages: Sequence[Message],
        *,
        role: str = "root",
        tools: Sequence[dict[str, Any]] | None = None,
        parent: int | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        """One chat completion (from the cache when possible), within the budget."""
        if self.dry_run:
            raise ModelSkipped()
        model = self.root if role == "root" else self.sub
        tools = tools if tools and self.tools_supported else None
        reply_tokens = max_tokens or self.settings.reply_tokens
        payload: dict[str, Any] = {"model": model, "messages": list(messages)}
        if tools:
            payload["tools"] = list(tools)
        if self.settings.temperature is not None:
            payload["temperature"] = self.settings.temperature
        extra = self.settings.extra
        key = cache_key({**payload, "reply_tokens": reply_tokens, "extra": extra})
        cached = self.cache.get(key)
        if cached is not None:
            self.budget.check_time()
            done = _from_record(cached, cached=True)
            self.budget.record_cached(model)
            self._trace(parent, role, payload, done)
            return done
        prompt_estimate = _messages_tokens(messages)
        estimate = prompt_estimate + reply_tokens
        most = self._cost(prompt_estimate, reply_tokens)
        self.budget.reserve(estimate, most)
        start = time.monotonic()
        try:
            response = self._create({**payload, "extra_body": extra or None}, model, reply_tokens)
            record = _to_record(response, model)
        except BaseException:
            self.budget.release(estimate, most)
            raise
        latency = time.monotonic() - start
        done = _from_record(record, cached=False, latency=latency)
        cost = self._cost(done.prompt_tokens, done.completion_tokens)
        self.budget.settle(
            estimate, most, model, done.prompt_tokens, done.completion_tokens, latency, cost, False
        )
        if done.finish_reason != "length" and (done.content or done.tool_calls):
            self.cache.put(key, model, record)
        self._trace(parent, role, payload, done, cost)
        return done

    def ask(self, prompt: str, *, role: str = "sub", parent: int | None = None) -> str:
        """A single-message call; returns the reply text."""
        return self.complete(
            [{"role": "user", "content": prompt}], role=role, parent=parent
        ).content

    def batch(
        self,
        prompts: Sequence[str],
        *,
        parent: int | None = None,
        system: str | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list[str | Exception]:
        """Sub-calls run concurrently; each result is a reply or the exception it raised."""

        def one(prompt: str) -> str | Exception:
            messages: list[Message] = []
            if system:
                messages.append({"role": "system", "content": system})
            messages.append({"role": "user", "content": prompt})
            try:
                return self.complete(messages, role="sub", parent=parent).content
            except (EngineError, BudgetExceeded) as exc:
                return exc
            finally:
                if on_done is not None:
                    on_done(1)

        if len(prompts) <= 1:
            return [one(p) for p in prompts]
        workers = min(self.settings.concurrency, len(prompts))
        with ThreadPoolExecutor(workers, thread_name_prefix="ghqa-sub") as pool:
            return list(pool.map(one, prompts))

    def _create(self, payload: dict[str, Any], model: str, reply_tokens: int) -> Any:
        import openai

        param = self._token_param.get(model) or (
            "max_completion_tokens"
            if _COMPLETION_TOKENS_MODELS.match(model.split("/")[-1])
            else "max_tokens"
        )
        timeout = max(1.0, min(self.settings.request_timeout, self.budget.remaining_time))
        for attempt in range(2):
            try:
                create: Any = self.client.with_options(timeout=timeout).chat.completions.create
                return create(**payload, **{param: reply_tokens})
            except openai.BadRequestError as exc:
                text = str(exc).lower()
                other = (
                    "max_tokens" if param == "max_completion_tokens" else "max_completion_tokens"
                )
                if attempt == 0 and param in text and ("support" in text or other in text):
                    param = other
                    with self._lock:
                        self._token_param[model] = param
                    continue
                if payload.get("tools") and "tool" in text:
                    self.tools_supported = False
                    raise ToolsUnsupported(f"{self.base_url} does not support tools") from None
                raise explain_api_error(exc, self.base_url, model) from None
            except openai.APIError as exc:
                raise explain_api_error(exc, self.base_url, model) from None
        raise AssertionError("unreachable")

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self._prices is None:
            return None
        p_in, p_out = self._prices
        return (prompt_tokens * p_in + completion_tokens * p_out) / 1_000_000

    def _trace(
        self,
        parent: int | None,
        role: str,
        payload: dict[str, Any],
        done: Completion,
        cost: float | None = None,
    ) -> None:
        self.trace.event(
            "model_call",
            parent,
            role=role,
            model=done.model,
            messages=payload["messages"],
            tools=bool(payload.get("tools")),
            content=done.content,
            tool_calls=[tc.__dict__ for tc in done.tool_calls],
            finish_reason=done.finish_reason,
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
            latency=round(done.latency, 3),
            cost=cost,
            cached=done.cached,
        )


def _to_record(response: Any, model: str) -> dict[str, Any]:
    choices = getattr(response, "choices", None)
    if not choices:
        raise ModelReplyError(
            f"the server returned no choices for {model}: try again or another model"
        )
    message = choices[0].message
    calls = [
        {
            "id": tc.id or f"call_{i}",
            "name": tc.function.name or "",
            "arguments": tc.function.arguments or "",
        }
        for i, tc in enumerate(message.tool_calls or [])
        if getattr(tc, "function", None) is not None
    ]
    usage = getattr(response, "usage", None)
    content = message.content or ""
    return {
        "content": content,
        "tool_calls": calls,
        "finish_reason": choices[0].finish_reason or "stop",
        "model": response.model or model,
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0)
        or estimate_tokens(content),
    }


def _from_record(record: dict[str, Any], *, cached: bool, latency: float = 0.0) -> Completion:
    return Completion(
        content=str(record.get("content") or ""),
        tool_calls=tuple(
            ToolCall(str(c.get("id", "")), str(c.get("name", "")), str(c.get("arguments", "")))
            for c in record.get("tool_calls") or []
        ),
        finish_reason=str(record.get("finish_reason") or "stop"),
        model=str(record.get("model") or ""),
        prompt_tokens=int(record.get("prompt_tokens") or 0),
        completion_tokens=int(record.get("completion_tokens") or 0),
        latency=latency,
        cached=cached,
    )


def explain_api_error(exc: openai.APIError, base_url: str, model: str) -> EngineError:
    """One line that says what the model server did and what to do about it."""
    import openai

    if isinstance(exc, openai.AuthenticationError):
        return EngineError(
            f"{base_url} refused the API key (401): check OPENAI_API_KEY or GHQA_API_KEY"
        )
    if isinstance(exc, openai.PermissionDeniedError):
        return EngineError(f"{base_url} denied access to {model} (403): check the key's rights")
    if isinstance(exc, openai.NotFoundError):
        return EngineError(
            f"{base_url} has no model {model!r} (404): pick one it serves with --model"
        )
    if isinstance(exc, openai.RateLimitError):
        return EngineError(
            f"{base_url} kept rate-limiting requests (429) after retries: wait, or lower "
            "GHQA_CONCURRENCY"
        )
    if isinstance(exc, openai.APITimeoutError):
        return EngineError(
            f"{base_url} did not answer in time: raise GHQA_REQUEST_TIMEOUT or use a faster model"
        )
    if isinstance(exc, openai.APIConnectionError):
        if _broke_off(exc):
            return EngineError(
                f"the connection to the model server at {base_url} broke off in the middle of "
                "a reply (after retries): try again, or raise GHQA_RETRIES"
            )
        return EngineError(
            f"cannot reach the model server at {base_url}: is it running? (check GHQA_BASE_URL)"
        )
    if isinstance(exc, openai.APIStatusError):
        detail = _short(str(exc))
        return EngineError(f"{base_url} answered {exc.status_code} for {model}: {detail}")
    return EngineError(f"model call to {base_url} failed: {_short(str(exc))}")


def _broke_off(exc: BaseException) -> bool:
    """Whether a connection error happened after the server answered (a reply cut short), not
    while connecting (nothing there). Told by the names of the transport's exceptions, which
    are the same in every httpx flavour the openai client may use."""
    cause: BaseException | None = exc.__cause__ or exc.__context__
    for _ in range(10):
        if cause is None:
            break
        name = type(cause).__name__
        if name in ("RemoteProtocolError", "ReadError"):
            return True
        if name in ("ConnectError", "ConnectTimeout"):
            return False
        cause = cause.__cause__ or cause.__context__
    return False


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
