"""Options and argument types shared by several ``atr`` commands."""

from __future__ import annotations

import json
from typing import Any

import click

from shared.errors import ValidationError
from shared.ids import check_key, check_version

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the protocol models as JSON instead of text."
)


class _Checked(click.ParamType[str]):
    """A string parameter validated by one of :mod:`shared.ids`' check functions."""

    def __init__(self, name: str, check: Any) -> None:
        self.name = name
        self._check = check

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return str(self._check(str(value)))
        except ValidationError as exc:
            self.fail(exc.diagnostics().replace("\nHint: ", " — "), param, ctx)


PROJECT = _Checked("project", check_key)
VERSION = _Checked("version", check_version)


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
