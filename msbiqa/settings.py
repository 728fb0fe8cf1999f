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


def from_dict(cls, values: dict):
    """An instance of dataclass `cls` from `dataclasses.asdict` output (e.g. the settings a run recorded in its
    run.json): `values` over the defaults, a nested dataclass rebuilt from its sub-dict over the enclosing default
    (as the command-line options take it), and a field the dict lacks (one added after the run) left at its default."""
    return _over(cls(), values)


def _over(default, values: dict):
    given = {}
    for field in dataclasses.fields(default):
        if field.init and field.name in values:
            inner, value = getattr(default, field.name), values[field.name]
            given[field.name] = _over(inner, value) if dataclasses.is_dataclass(inner) else value
    return dataclasses.replace(default, **given)
