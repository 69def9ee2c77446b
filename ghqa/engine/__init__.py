"""The answering engine: strategies (direct, chunked, rlm), models, sandbox, citations, trace."""

from .answer import Answer, Citation, DroppedCitation, Usage
from .engine import answer_question, check_question, code_only_answer

__all__ = [
    "Answer",
    "Citation",
    "DroppedCitation",
    "Usage",
    "answer_question",
    "check_question",
    "code_only_answer",
]
