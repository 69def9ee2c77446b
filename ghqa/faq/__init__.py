"""The FAQ job: a Markdown file of cited answers that keeps itself true as the code moves."""

from .build import FaqReport, build_faq
from .config import FaqConfig, load_config
from .job import FaqRun, run_faq

__all__ = ["FaqConfig", "FaqReport", "FaqRun", "build_faq", "load_config", "run_faq"]
