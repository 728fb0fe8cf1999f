"""Settings declared once: dataclass fields that carry their default and the help of their command-line option
(`msbiqa.cli.options` turns them into options)."""

from __future__ import annotations

import dataclasses


def setting(default, help: str, **metadata):
    """A dataclass field with a default and the help text (and option metadata) of its command-line option."""
    factory = isinstance(default, list | dict)
    value = {"default_factory": (lambda: type(default)(default))} if factory else {"default": default}
    return dataclasses.field(**value, metadata={"help": help, **metadata})
