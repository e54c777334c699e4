"""Command-line habits: flags shown as flags, re-flowed help, one-line messages for bad settings."""

from __future__ import annotations

import inspect
import re
from typing import Any

from typer.core import TyperGroup

from newsrag.config import Settings


def _flags_without_metavar(params: list[Any]) -> list[Any]:
    """Show --json, --help... as flags in --help, not as options taking a <bool>."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""
    return params


class FlagsAsFlags(TyperGroup):
    """The command group: every command's boolean flags print without a value placeholder."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_without_metavar(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not getattr(command, "_newsrag_flags", False):
            if command.help:  # docstring lines re-flowed: rich keeps their single line breaks
                command.help = re.sub(r"(?<!\n)\n(?!\n)", " ", inspect.cleandoc(command.help))
            original = command.get_params
            command.get_params = lambda context: _flags_without_metavar(original(context))  # type: ignore[method-assign,assignment]
            command._newsrag_flags = True  # type: ignore[attr-defined]
        return command


OPTION_NAMES = {"index_dir": "--index"}


def allowed_values(name: str) -> str:
    """What a setting accepts, from its declaration: choices, a type, a range."""
    import typing

    info = Settings.model_fields[name]
    choices = typing.get_args(info.annotation) if typing.get_origin(info.annotation) else ()
    if typing.get_origin(info.annotation) is typing.Literal:
        return "one of " + ", ".join(str(choice) for choice in choices)
    kinds: dict[Any, str] = {int: "a whole number", float: "a number", bool: "true or false"}
    kind = kinds.get(info.annotation, "a value")
    bounds = []
    for rule in info.metadata:
        for attribute, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            limit = getattr(rule, attribute, None)
            if limit is not None:
                bounds.append(f"{word} {limit}")
    return kind + (" " + " and ".join(bounds) if bounds else "")


def describe_settings_error(error: Any, given: dict[str, Any]) -> str:
    """One line for a pydantic ValidationError of Settings: the variable, its value, what is allowed."""
    problems = error.errors()
    first = problems[0]
    name = str(first["loc"][0]) if first.get("loc") else ""
    if name not in Settings.model_fields:
        return f"bad setting: {first.get('msg', error)}"
    variable = f"NEWSRAG_{name.upper()}"
    value = first.get("input")
    more = f" (and {len(problems) - 1} more bad settings)" if len(problems) > 1 else ""
    if name in given:
        option = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
        return f"bad option {option} {value!r} ({variable}): use {allowed_values(name)}{more}"
    return f"bad setting {variable}={value!r}: use {allowed_values(name)}{more}"
