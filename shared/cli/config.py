"""The ``atr`` configuration file: the agent URL and token saved by ``atr login``.

It lives at ``$XDG_CONFIG_HOME/atr/config.toml`` (default ``~/.config``), is
written atomically with mode 0600 (it holds a secret) and holds two keys::

    agent = "http://127.0.0.1:8765"
    token = "atr_..."
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from shared.atomicfile import write_atomic
from shared.errors import ValidationError

FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass(frozen=True, kw_only=True)
class Config:
    """What ``atr login`` saved; both fields may be missing."""

    agent: str | None = None
    token: str | None = None


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/atr/config.toml``, or ``~/.config/atr/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "atr" / "config.toml"


def load_config(path: Path) -> Config:
    """The saved configuration; an empty one if the file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(
            f"{path} is not a valid TOML file: {exc}",
            hint="fix it, or remove it and run `atr login` again",
        ) from exc
    values: dict[str, str | None] = {}
    for key in ("agent", "token"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{path}: '{key}' must be a string")
        values[key] = value or None
    return Config(agent=values["agent"], token=values["token"])


def _toml_string(value: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes; DEL must be escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def save_config(path: Path, config: Config) -> None:
    """Write ``config`` to ``path`` atomically, readable by the owner only."""
    lines = [
        f"{key} = {_toml_string(value)}\n"
        for key, value in (("agent", config.agent), ("token", config.token))
        if value is not None
    ]
    text = "# written by `atr login`; holds a secret token\n" + "".join(lines)
    try:
        write_atomic(path, text, mode=FILE_MODE, make_dirs=True, dir_mode=DIR_MODE)
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}") from exc
