"""Options and argument types shared by several ``atr`` commands."""

from __future__ import annotations

import importlib
import json
from typing import Any

import click

from shared.errors import ValidationError

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the protocol models as JSON instead of text."
)


class BadValue(click.BadParameter):
    """A parameter value an identifier check refused; keeps that check's hint."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None,
        ctx: click.Context | None = None,
        param: click.Parameter | None = None,
    ) -> None:
        super().__init__(message, ctx=ctx, param=param)
        self.hint = hint


class _Checked(click.ParamType[str]):
    """A string parameter validated by one of :mod:`shared.ids`' check functions, named by
    ``check`` (imported on first use: :mod:`shared.ids` imports pydantic, which ``atr --help``
    and ``atr check`` do not need)."""

    def __init__(self, name: str, check: str) -> None:
        self.name = name
        self._check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        check = getattr(importlib.import_module("shared.ids"), self._check)
        try:
            return str(check(str(value)))
        except ValidationError as exc:
            raise BadValue(exc.message, hint=exc.hint, ctx=ctx, param=param) from None


PROJECT = _Checked("project", "check_key")
VERSION = _Checked("version", "check_version")


def parse_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``k=v`` pairs into a dict; a value that is valid JSON (a number, true, a list) is decoded."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="'--arg'")
        try:
            args[key] = json.loads(raw)
        except json.JSONDecodeError:
            args[key] = raw
    return args
