"""Process set-up shared by the `archivebot` CLI and the Discord bot: offline model defaults, quiet libraries."""

from __future__ import annotations

import logging

from index import use_offline_defaults

# Libraries that log every step at INFO; only their warnings are worth a line in ours.
NOISY_LOGGERS = ("sentence_transformers", "transformers", "httpx", "huggingface_hub", "trafilatura", "htmldate")


def set_offline_defaults() -> None:
    """The model ships with the package: never ask the Hugging Face hub (unless the environment says so), and
    keep the tokenizers' own thread pool off. The variables are listed once, in `index._settings`."""
    use_offline_defaults()


def quiet_libraries(level: int) -> None:
    """Show the noisy libraries' messages from `level` up (never below WARNING)."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
