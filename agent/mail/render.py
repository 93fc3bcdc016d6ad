"""Mail from Jinja2 templates, per project: the project's own, the agent's, then the defaults.

A template is a text file with two blocks, ``subject`` and ``body``
(see :mod:`agent.mail.templates`). Looking up ``vote.txt.j2`` for project
``acme-lib`` tries, in order:

1. ``DATA_DIR/mail-templates/acme-lib/vote.txt.j2``
2. ``DATA_DIR/mail-templates/vote.txt.j2``
3. the default shipped in the package (also reachable as ``default/vote.txt.j2``,
   so an override can ``{% extends "default/vote.txt.j2" %}``).

Templates run in Jinja2's sandbox without HTML escaping (mail is plain text); an
undefined variable is an error, so a typo in an override fails loudly, naming
the template, instead of sending a mail with a hole in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from shared.errors import AtrError
from shared.ids import check_key

__all__ = ["TEMPLATE_DIR_NAME", "MailTemplateError", "MailTemplates", "RenderedMail"]

TEMPLATE_DIR_NAME = "mail-templates"
MAX_SUBJECT = 400


class MailTemplateError(AtrError):
    """A mail template is missing, broken, or does not render."""


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """A subject line and a plain-text body."""

    subject: str
    body: str


class MailTemplates:
    """Renders mail templates for projects (see the module docstring)."""

    def __init__(self, data_dir: Path | None) -> None:
        self._root = data_dir / TEMPLATE_DIR_NAME if data_dir is not None else None
        self._envs: dict[str | None, SandboxedEnvironment] = {}
        self._defaults = jinja2.PackageLoader("agent.mail", "templates")

    def _env(self, project: str | None) -> SandboxedEnvironment:
        env = self._envs.get(project)
        if env is None:
            loaders: list[jinja2.BaseLoader] = []
            if self._root is not None:
                if project is not None:
                    loaders.append(jinja2.FileSystemLoader(self._root / check_key(project)))
                loaders.append(jinja2.FileSystemLoader(self._root))
            loaders.append(jinja2.PrefixLoader({"default": self._defaults}))
            loaders.append(self._defaults)
            env = SandboxedEnvironment(
                loader=jinja2.ChoiceLoader(loaders),
                autoescape=False,
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=False,
                auto_reload=True,
            )
            self._envs[project] = env
        return env

    def render(self, name: str, *, project: str | None, context: Mapping[str, Any]) -> RenderedMail:
        """Render template ``name`` for ``project`` with ``context``."""
        try:
            template = self._env(project).get_template(name)
            ctx = template.new_context(dict(context))
            # Rendering the whole template once collects the blocks along its
            # {% extends %} chain (child first); each block is then rendered alone.
            "".join(template.root_render_func(ctx))
            blocks = ctx.blocks
            if not blocks.get("subject") or not blocks.get("body"):
                raise MailTemplateError(
                    f"mail template {template.filename or name} must define the blocks "
                    "'subject' and 'body'"
                )
            subject = "".join(blocks["subject"][0](ctx))
            body = "".join(blocks["body"][0](ctx))
        except jinja2.TemplateNotFound as exc:
            raise MailTemplateError(f"no mail template named {name!r}") from exc
        except jinja2.TemplateError as exc:
            where = getattr(exc, "filename", None) or name
            line = getattr(exc, "lineno", None)
            raise MailTemplateError(
                f"mail template {where}{f' line {line}' if line else ''} does not render: "
                f"{exc.message or exc}",
                hint=f"fix or remove the override in DATA_DIR/{TEMPLATE_DIR_NAME}",
            ) from exc
        subject = " ".join(subject.split())
        if not subject:
            raise MailTemplateError(f"mail template {name!r} renders an empty subject")
        return RenderedMail(subject=subject[:MAX_SUBJECT], body=body.strip("\n") + "\n")
