"""The texts a user signs to prove who they are: a login, or a request for an API token.

The agent writes the text; the client parses and checks it *before* anything is
signed, so that a malicious or spoofed agent cannot obtain a signature over bytes of
its choosing (an artifact, another agent's challenge). The signature is a detached
OpenPGP **text** signature (class 0x01) carrying the notation
``purpose@atr.apache.org=<purpose>``, which marks it as made for this and nothing
else; the agent checks the same. Format, version 1 (UTF-8, LF line ends, no trailing
whitespace, the lines in this order)::

    ATR-SIGNED-CHALLENGE/1
    purpose: login                        (or: token)
    user: alice
    agent: https://atr.example.org        (the agent's public URL)
    nonce: 0123456789abcdef0123456789abcdef
    issued: 2026-12-04T13:00:00+00:00
    expires: 2026-12-04T13:05:00+00:00
    token-project: acme-lib               (purpose token only; '*' for every project)
    token-role: committer                 (purpose token only)
    token-expires: 2027-03-04T13:00:00+00:00   (purpose token only)
    token-label: release CI               (purpose token only; may be empty)

No artifact starts with the first line, and a client signs only a text that parses
completely, names the user it logs in as and the agent URL the user chose, and expires
within :data:`MAX_TTL` of now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.errors import ValidationError
from shared.ids import check_key, check_user_name

HEADER = "ATR-SIGNED-CHALLENGE/1"
"""The first line of every challenge text; the version changes with the format."""
NOTATION_NAME = "purpose@atr.apache.org"
"""The signature notation naming what a signature was made for (its value: the purpose)."""
MAX_TTL = timedelta(minutes=10)
"""The longest a challenge may be valid; a client refuses a longer one."""
CLOCK_SKEW = timedelta(minutes=5)
"""How far the agent's clock may be ahead of the client's."""
MAX_LENGTH = 2048
"""No challenge text is longer (characters)."""
ALL_PROJECTS = "*"

_NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
_LABEL_RE = re.compile(r"^[^\x00-\x1f\x7f]{0,200}$")


class Purpose(StrEnum):
    """What a signed challenge is for."""

    LOGIN = "login"
    """a desktop session token"""
    TOKEN = "token"
    """an API token with the parameters the text names"""


@dataclass(frozen=True, slots=True)
class TokenTerms:
    """The API token a ``token`` challenge asks for."""

    project: str | None
    """``None``: every project"""
    role: str
    expires: datetime
    label: str


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed challenge text."""

    purpose: Purpose
    user: str
    agent: str
    nonce: str
    issued: datetime
    expires: datetime
    token: TokenTerms | None = None

    def render(self) -> str:
        """The exact text to sign."""
        lines = [
            HEADER,
            f"purpose: {self.purpose}",
            f"user: {self.user}",
            f"agent: {self.agent}",
            f"nonce: {self.nonce}",
            f"issued: {_time(self.issued)}",
            f"expires: {_time(self.expires)}",
        ]
        if self.token is not None:
            lines += [
                f"token-project: {self.token.project or ALL_PROJECTS}",
                f"token-role: {self.token.role}",
                f"token-expires: {_time(self.token.expires)}",
                f"token-label: {self.token.label}".rstrip(),
            ]
        return "\n".join(lines) + "\n"


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _parse_time(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"the challenge's {what} time {value!r} is not a time") from None
    if parsed.tzinfo is None:
        raise ValidationError(f"the challenge's {what} time {value!r} has no time zone")
    return parsed.astimezone(UTC)


_BASE_KEYS = ("purpose", "user", "agent", "nonce", "issued", "expires")
_TOKEN_KEYS = ("token-project", "token-role", "token-expires", "token-label")


def _fields(text: str) -> dict[str, str]:
    if len(text) > MAX_LENGTH:
        raise ValidationError(f"the challenge is {len(text)} characters long, more than allowed")
    if not text.startswith(HEADER + "\n"):
        raise ValidationError(
            "this is not an ATR challenge (it does not start with "
            f"{HEADER!r}): refusing to sign it",
            hint="the agent may be of another version, or not an ATR agent at all",
        )
    if not text.endswith("\n") or "\r" in text:
        raise ValidationError("the challenge text must end with a newline and use LF line ends")
    lines = text[len(HEADER) + 1 : -1].split("\n")
    fields: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            key, value = line[:-1], ""
        elif not sep:
            raise ValidationError(f"the challenge has a line that is not 'key: value': {line!r}")
        if key in fields:
            raise ValidationError(f"the challenge names {key!r} twice")
        if value != value.strip() or any(ord(ch) < 0x20 for ch in value):
            raise ValidationError(f"the challenge's {key!r} has stray whitespace or controls")
        fields[key] = value
    return fields


def parse_challenge(text: str) -> Challenge:
    """Parse a challenge text strictly; :class:`ValidationError` names what is wrong."""
    fields = _fields(text)
    try:
        purpose = Purpose(fields.get("purpose", ""))
    except ValueError:
        raise ValidationError(
            f"the challenge's purpose {fields.get('purpose')!r} is not one this client knows"
        ) from None
    expected = _BASE_KEYS + (_TOKEN_KEYS if purpose is Purpose.TOKEN else ())
    if tuple(fields) != expected:
        raise ValidationError(
            "the challenge's lines are not the expected ones: "
            f"got {', '.join(fields)}; expected {', '.join(expected)}"
        )
    if not _NONCE_RE.fullmatch(fields["nonce"]):
        raise ValidationError("the challenge's nonce is not 32 lower-case hex characters")
    token = None
    if purpose is Purpose.TOKEN:
        project = fields["token-project"]
        if not _LABEL_RE.fullmatch(fields["token-label"]):
            raise ValidationError("the challenge's token label is too long or has controls")
        token = TokenTerms(
            project=None if project == ALL_PROJECTS else check_key(project),
            role=fields["token-role"],
            expires=_parse_time(fields["token-expires"], "token expiry"),
            label=fields["token-label"],
        )
    challenge = Challenge(
        purpose=purpose,
        user=check_user_name(fields["user"]),
        agent=fields["agent"],
        nonce=fields["nonce"],
        issued=_parse_time(fields["issued"], "issue"),
        expires=_parse_time(fields["expires"], "expiry"),
        token=token,
    )
    if challenge.render() != text:
        raise ValidationError("the challenge text is not in its canonical form")
    return challenge


def check_challenge(
    text: str,
    *,
    purpose: Purpose,
    user: str,
    agent: str,
    now: datetime | None = None,
) -> Challenge:
    """What a client runs before signing: the text parses, is for ``purpose``, names
    ``user`` and the agent URL ``agent`` the user chose, and expires soon, not in the past.
    """
    challenge = parse_challenge(text)
    now = now or datetime.now(UTC)
    if challenge.purpose is not purpose:
        raise ValidationError(
            f"the agent sent a challenge for a {challenge.purpose}, not a {purpose}: "
            "refusing to sign it"
        )
    if challenge.user != user:
        raise ValidationError(
            f"the challenge is for user {challenge.user!r}, not {user!r}: refusing to sign it"
        )
    if challenge.agent.rstrip("/") != agent.rstrip("/"):
        raise ValidationError(
            f"the agent at {agent} sent a challenge for the agent {challenge.agent}: "
            "refusing to sign it",
            hint=f"if {challenge.agent} is the same agent, connect to it with that URL",
        )
    if challenge.expires <= now:
        raise ValidationError("the challenge has expired already: refusing to sign it")
    if challenge.expires - now > MAX_TTL + CLOCK_SKEW or challenge.issued > now + CLOCK_SKEW:
        raise ValidationError(
            "the challenge's times are not within minutes of this computer's clock: "
            "refusing to sign it",
            hint="check the clocks of this computer and of the agent",
        )
    if challenge.expires - challenge.issued > MAX_TTL:
        raise ValidationError("the challenge is valid for longer than allowed: refusing to sign")
    return challenge


def is_insecure_url(url: str) -> bool:
    """Whether ``url`` is plain ``http://`` to a host other than this computer: a login
    there can be read and changed on the way (the desktop warns before it)."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() != "http":
        return False
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    host = host[1 : host.find("]")] if host.startswith("[") else host.split(":", 1)[0]
    host = host.lower()
    return not (host == "localhost" or host.startswith("127.") or host == "::1")
