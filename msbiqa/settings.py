"""Settings declared once: dataclass fields that carry their default and the help of their command-line option
(`msbiqa.cli.options` turns them into options). A field whose default is itself such a dataclass nests it: its
settings become options of the command too, with the nested default's values as theirs."""

from __future__ import annotations

import copy
import dataclasses


def setting(default, help: str, **metadata):
    """A dataclass field with a default and the help text (and option metadata) of its command-line option."""
    if dataclasses.is_dataclass(default):
        value = {"default_factory": lambda: copy.deepcopy(default)}
    elif isinstance(default, list | dict):
        value = {"default_factory": lambda: type(default)(default)}
    else:
        value = {"default": default}
    return dataclasses.field(**value, metadata={"help": help, **metadata})
