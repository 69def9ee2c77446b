"""The strategies ``ghqa eval`` compares: two baselines and ghqa's own."""

from __future__ import annotations

from ..errors import ConfigError

BASELINES = ("whole", "grep")
ENGINE_STRATEGIES = ("direct", "chunked", "rlm", "auto")
STRATEGIES = (*BASELINES, *ENGINE_STRATEGIES)
DEFAULT_STRATEGIES = ("whole", "grep", "auto")


def parse_strategies(text: str) -> tuple[str, ...]:
    """``"whole,grep,auto"`` → the strategies, in order, each once."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        raise ConfigError(
            f"unknown strategy {', '.join(unknown) or repr(text)}: use a comma-separated list "
            f"of {', '.join(STRATEGIES)}"
        )
    return tuple(dict.fromkeys(names))
