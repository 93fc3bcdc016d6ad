"""Votes cast by email: reading mbox, Maildir and Pony Mail ``thread.lua`` JSON, and finding the
vote in a message.

Everything here is a pure function of its input (a Maildir is read, never changed).

* :func:`read_mbox`, :func:`read_maildir`, :func:`read_ponymail` turn a mail source
  into :class:`MailMessage` records (plain-text body, sender, date, thread headers).
* :func:`find_vote` reads a body the way a release manager does: lines starting
  with ``+1``, ``0``, ``-1`` (also ``+0``/``-0`` and a ticked ``[x] +1``), outside
  quoted text (lines starting with ``>``) and above the signature (``-- ``) or a
  forwarded/"Original Message" block. A message whose vote lines disagree is
  ambiguous and not counted.
* :class:`ThreadMatcher` tells whether a message answers a given vote: it names the
  vote's thread in ``In-Reply-To``/``References``, or its subject is the vote's
  ``[VOTE]`` subject; a message that shows which list it went to must have gone to
  the vote's list.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import mailbox
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

from shared.errors import ValidationError
from shared.protocol.votes import BallotValue

__all__ = [
    "MailMessage",
    "ThreadMatcher",
    "VoteReading",
    "find_vote",
    "read_maildir",
    "read_mbox",
    "read_ponymail",
]

MAX_MESSAGES = 20_000
"""A mail source with more messages than this is refused (a list archive of many months)."""

_VOTE_LINE = re.compile(
    r"^\s*(?P<box>\[\s*[xX*\u2713\u2714]\s*\]\s*)?(?P<value>[+-][01]|\u00b10|0)(?!\d|[.,/]\d)(?P<rest>.*)$"
)
_ALONE = re.compile(r"^\s*(?:\((?:non-?)?binding\))?\s*[.!]?\s*$", re.IGNORECASE)
_STOP = re.compile(
    r"^(?:--\s*|-{3,}\s*(?:Original|Forwarded) Message\s*-{3,}|_{10,}|Begin forwarded message:)$",
    re.IGNORECASE,
)
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|fw|fwd|antw)\s*(?:\[\d+\])?\s*:\s*)+", re.I)
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One email, as much of it as a tally needs."""

    message_id: str | None
    """With angle brackets, e.g. ``<abc@example.org>``."""
    sender: str
    """The From address, lower case (``""`` if there is none)."""
    sender_name: str
    subject: str
    date: datetime | None
    """When it was sent (UTC), from the Date header or Pony Mail's epoch."""
    body: str
    """The plain-text body (``""`` if the message has none)."""
    refs: tuple[str, ...] = ()
    """Message ids from In-Reply-To and References."""
    lists: tuple[str, ...] = ()
    """Addresses it went to: To, Cc, List-Post/List-Id (lower case)."""
    archive_id: str | None = None
    """Its permalink id in the list archive (Pony Mail's ``mid``), when read from there."""

    @property
    def label(self) -> str:
        """How to name the message in a report."""
        who = self.sender or "an unknown sender"
        return f"message {self.message_id or '(no Message-ID)'} from {who}"


# --- reading sources -----------------------------------------------------------------------------


def _text_body(msg: Message) -> str:
    if isinstance(msg, EmailMessage):
        part = msg.get_body(preferencelist=("plain",))
        if part is None:
            return ""
        try:
            content = part.get_content()
        except (LookupError, ValueError):
            payload = part.get_payload(decode=True)
            return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        return content if isinstance(content, str) else ""
    payload = msg.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except (ValueError, IndexError, AttributeError):  # a header the parser cannot read
        return ""
    return str(value) if value is not None else ""


def _list_addresses(msg: Message) -> tuple[str, ...]:
    found: list[str] = []
    for name in ("To", "Cc"):
        for _, addr in email.utils.getaddresses([_header(msg, name)]):
            if "@" in addr:
                found.append(addr.lower())
    post = _header(msg, "List-Post")
    match = re.search(r"mailto:([^>\s]+)", post)
    if match:
        found.append(match.group(1).lower())
    list_id = _header(msg, "List-Id")
    match = re.search(r"<([^>]+)>", list_id)
    if match:
        found.append(_list_id_address(match.group(1)))
    return tuple(dict.fromkeys(found))


def _list_id_address(list_id: str) -> str:
    """``dev.acme.apache.org`` → ``dev@acme.apache.org``."""
    local, _, domain = list_id.strip("<> ").lower().partition(".")
    return f"{local}@{domain}" if domain else local


def from_email(msg: Message) -> MailMessage:
    """A :class:`MailMessage` of a parsed email."""
    name, addr = email.utils.parseaddr(_header(msg, "From"))
    refs = _MSGID.findall(_header(msg, "In-Reply-To") + " " + _header(msg, "References"))
    message_id = _MSGID.search(_header(msg, "Message-ID"))
    return MailMessage(
        message_id=message_id.group(0) if message_id else None,
        sender=addr.strip().lower(),
        sender_name=name.strip(),
        subject=" ".join(_header(msg, "Subject").split()),
        date=_date(_header(msg, "Date")),
        body=_text_body(msg),
        refs=tuple(dict.fromkeys(refs)),
        lists=_list_addresses(msg),
    )


def _parse(raw: str | bytes) -> Message:
    if isinstance(raw, bytes):
        return email.message_from_bytes(raw, policy=email.policy.default)
    return email.message_from_string(raw, policy=email.policy.default)


def _too_many(count: int) -> None:
    if count > MAX_MESSAGES:
        raise ValidationError(
            f"the mail source holds more than {MAX_MESSAGES} messages",
            hint="give the vote's thread, or one month of the list's archive",
        )


def _mbox_chunks(text: str) -> Iterator[str]:
    lines = text.replace("\r\n", "\n").split("\n")
    current: list[str] | None = None
    previous_blank = True
    for line in lines:
        if line.startswith("From ") and previous_blank:
            if current is not None:
                yield "\n".join(current)
            current = []
        elif current is not None:
            # mboxrd/mboxo escape body lines starting with "From " as ">From ".
            current.append(line[1:] if re.match(r"^>+From ", line) else line)
        previous_blank = line == ""
    if current is not None:
        yield "\n".join(current)


def read_mbox(text: str) -> list[MailMessage]:
    """The messages of an mbox file's text (``From `` separator lines)."""
    if not text.lstrip().startswith("From "):
        raise ValidationError(
            "the mbox text must start with a 'From ' separator line",
            hint="give the file as a list archive exports it (mbox format)",
        )
    chunks = list(_mbox_chunks(text.lstrip()))
    _too_many(len(chunks))
    return [from_email(_parse(chunk)) for chunk in chunks]


def read_maildir(path: Path) -> list[MailMessage]:
    """The messages of a Maildir (its ``new`` and ``cur`` folders); nothing is changed."""
    if not (path / "cur").is_dir() or not (path / "new").is_dir():
        raise ValidationError(f"{path} is not a Maildir: it needs 'cur' and 'new' folders")
    box = mailbox.Maildir(path, factory=None, create=False)
    out: list[MailMessage] = []
    for key in box.iterkeys():
        try:
            with box.get_file(key) as fh:
                raw = fh.read()
        except (FileNotFoundError, KeyError):  # moved or deleted while we read
            continue
        out.append(from_email(_parse(raw)))
        _too_many(len(out))
    return out


def _pony_walk(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        yield node
        for child in node.get("children") or ():
            yield from _pony_walk(child)
    elif isinstance(node, list):
        for item in node:
            yield from _pony_walk(item)


def _pony_lists(doc: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    for key in ("list_raw", "list"):
        value = doc.get(key)
        if isinstance(value, str) and value.strip("<> "):
            found.append(_list_id_address(value))
    return tuple(dict.fromkeys(found))


def _pony_message(doc: Mapping[str, Any]) -> MailMessage:
    name, addr = email.utils.parseaddr(str(doc.get("from", "")))
    epoch = doc.get("epoch")
    date = (
        datetime.fromtimestamp(int(epoch), UTC)
        if isinstance(epoch, int | float) and not isinstance(epoch, bool)
        else _date(str(doc.get("date") or ""))
    )
    message_id = _MSGID.search(str(doc.get("message-id") or ""))
    refs = _MSGID.findall(f"{doc.get('in-reply-to') or ''} {doc.get('references') or ''}")
    return MailMessage(
        message_id=message_id.group(0) if message_id else None,
        sender=addr.strip().lower(),
        sender_name=name.strip(),
        subject=" ".join(str(doc.get("subject") or "").split()),
        date=date,
        body=str(doc.get("body") or ""),
        refs=tuple(dict.fromkeys(refs)),
        lists=_pony_lists(doc),
        archive_id=_pony_id(doc),
    )


def _pony_id(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("mid") or doc.get("id")
    text = str(value).strip() if value is not None else ""
    return text if text.isalnum() else None


def read_ponymail(text: str) -> list[MailMessage]:
    """The messages of a Pony Mail ``thread.lua`` answer: its ``emails`` list, and the ``thread``
    tree's nodes that carry a body (each message once, by Message-ID or Pony Mail id)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"the Pony Mail thread is not JSON: {exc.msg}") from exc
    if not isinstance(data, Mapping) or not ("emails" in data or "thread" in data):
        raise ValidationError(
            "the Pony Mail thread must be a JSON object with 'emails' or 'thread'",
            hint="save the answer of https://lists.apache.org/api/thread.lua?id=...",
        )
    seen: set[str] = set()
    out: list[MailMessage] = []
    for doc in [*_pony_walk(data.get("emails") or []), *_pony_walk(data.get("thread") or {})]:
        if "body" not in doc or "from" not in doc:
            continue
        ident = str(doc.get("message-id") or doc.get("mid") or doc.get("id") or "")
        if ident and ident in seen:
            continue
        seen.add(ident)
        out.append(_pony_message(doc))
        _too_many(len(out))
    return out


# --- reading a vote ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoteReading:
    """What :func:`find_vote` found: a value, or why there is none."""

    value: BallotValue | None
    problem: str = ""


def _value_of(match: re.Match[str]) -> BallotValue | None:
    token, rest = match.group("value"), match.group("rest")
    if token == "0" and not match.group("box") and not _ALONE.match(rest):
        return None  # "0 issues found" is not a vote; a bare "0" or a ticked "[x] 0 ..." is
    if token == "+1":
        return "+1"
    if token == "-1":
        return "-1"
    return "0"


def _own_lines(body: str) -> Iterator[str]:
    for line in body.replace("\r\n", "\n").split("\n"):
        if _STOP.match(line.rstrip()) or line.rstrip() == "--":
            return
        if line.lstrip().startswith(">"):
            continue
        yield line


def find_vote(body: str) -> VoteReading:
    """The vote in a message body (see the module docstring)."""
    values: list[BallotValue] = []
    for line in _own_lines(body):
        match = _VOTE_LINE.match(line)
        if match:
            value = _value_of(match)
            if value is not None:
                values.append(value)
    distinct = list(dict.fromkeys(values))
    if not distinct:
        return VoteReading(None, "no +1, 0 or -1 line outside quoted text")
    if len(distinct) > 1:
        return VoteReading(None, "ambiguous: it has " + " and ".join(distinct) + " lines")
    return VoteReading(distinct[0])


def normalized_subject(subject: str) -> str:
    """The subject without reply/forward prefixes, lower case, single-spaced."""
    return " ".join(_REPLY_PREFIX.sub("", subject).split()).lower()


@dataclass(frozen=True, slots=True)
class ThreadMatcher:
    """Which messages answer one vote (see the module docstring)."""

    thread_message_id: str | None
    list_address: str
    names: tuple[str, ...]
    """The project's key and name: one of them must be in the subject."""
    version: str

    def matches(self, msg: MailMessage) -> bool:
        """Whether ``msg`` belongs to the vote's thread on the vote's list."""
        if msg.lists and self.list_address.lower() not in msg.lists:
            return False
        if self.thread_message_id and self.thread_message_id in msg.refs:
            return True
        return self.subject_matches(msg.subject)

    def subject_matches(self, subject: str) -> bool:
        """A ``[VOTE]`` subject naming the project and the version (not a result or cancel)."""
        text = normalized_subject(subject)
        if "[vote]" not in text or any(t in text for t in ("[result]", "[cancel", "[discuss]")):
            return False
        if not re.search(rf"(?<![\w.-]){re.escape(self.version.lower())}(?![\w-]|\.\d)", text):
            return False
        return any(name.lower() in text for name in self.names if name)


def messages_in(messages: Iterable[MailMessage], matcher: ThreadMatcher) -> list[MailMessage]:
    """The messages of ``messages`` that answer the vote."""
    return [m for m in messages if matcher.matches(m)]
