"""Email ballots: mbox, Maildir and Pony Mail JSON; vote lines outside quotes and signatures."""

from __future__ import annotations

import json
import mailbox
import re
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from agent.votes.mailparse import (
    ThreadMatcher,
    find_vote,
    normalized_subject,
    read_maildir,
    read_mbox,
    read_ponymail,
)
from shared.errors import ValidationError

THREAD = "<vote-1@atr.example>"
MATCHER = ThreadMatcher(
    thread_message_id=THREAD,
    list_address="dev@acme-lib.apache.org",
    names=("acme-lib", "Acme Library"),
    version="1.0.0",
)


def message(
    sender: str,
    body: str,
    *,
    subject: str = "Re: [VOTE] Release Acme Library 1.0.0",
    date: str = "Tue, 03 Feb 2026 10:00:00 +0100",
    msgid: str = "<m1@example.org>",
    refs: str | None = THREAD,
    to: str = "dev@acme-lib.apache.org",
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = msgid
    if refs:
        msg["In-Reply-To"] = refs
        msg["References"] = refs
    msg.set_content(body)
    return msg


def mbox_text(*messages: EmailMessage) -> str:
    """An mbox as list archives write it: body lines starting with "From " escaped (mboxrd)."""
    parts = []
    for msg in messages:
        text = re.sub(r"(?m)^(>*From )", r">\1", msg.as_string())
        parts.append("From someone@example.org Tue Feb  3 10:00:00 2026\n" + text)
    return "\n".join(parts)


# --- vote lines -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "value"),
    [
        ("+1", "+1"),
        ("+1 (binding)\n\nChecked signatures and hashes.", "+1"),
        ("  -1 the LICENSE is missing", "-1"),
        ("0", "0"),
        ("+0 no time to check", "0"),
        ("-0.", "0"),
        ("[X] +1 Release this package as Acme Library 1.0.0", "+1"),
        ("[ ] +1 Release this package\n[x] -1 Do not release", "-1"),
        ("[ ] +1 Release\n[x]  0 I don't feel strongly about it", "0"),
        ("Hi,\n\n+1.\n\nThanks", "+1"),
        ("+1 (non-binding)", "+1"),
    ],
)
def test_vote_lines(body, value):
    assert find_vote(body).value == value


@pytest.mark.parametrize(
    "body",
    [
        "Looks good to me",
        "> +1\nI agree with the above",
        "I checked:\n0 issues found\n-10 degrees outside",
        "1. downloaded\n2. verified",
        "+1.5 is not a vote",
        "Thanks!\n-- \n+1 Fan Club president",
        "See below\n-----Original Message-----\n+1",
        "[ ] +1 Release this package\n[ ] -1 Do not release",
    ],
)
def test_not_a_vote(body):
    reading = find_vote(body)
    assert reading.value is None
    assert "no +1, 0 or -1 line" in reading.problem


def test_conflicting_vote_lines_are_ambiguous():
    reading = find_vote("+1 for the source\n-1 for the binaries")
    assert reading.value is None
    assert reading.problem == "ambiguous: it has +1 and -1 lines"


def test_signature_without_trailing_space_also_ends_the_body():
    assert find_vote("-1\n--\n+1 company motto").value == "-1"


# --- sources --------------------------------------------------------------------------------------


def test_mbox_messages_and_their_headers():
    text = mbox_text(
        message("Carol Voter <Carol@Example.ORG>", "+1 (binding)\n\n> -1\n", msgid="<a@x>"),
        message("dan@example.org", "From the top: -1\n-1", msgid="<b@x>", refs=None),
    )
    first, second = read_mbox(text)
    assert first.sender == "carol@example.org"
    assert first.sender_name == "Carol Voter"
    assert first.message_id == "<a@x>"
    assert first.refs == (THREAD,)
    assert first.lists == ("dev@acme-lib.apache.org",)
    assert first.date == datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
    assert find_vote(first.body).value == "+1"
    # ">From" escaping of the body line is undone, and the vote is read.
    assert second.body.startswith("From the top")
    assert find_vote(second.body).value == "-1"


def test_mbox_must_start_with_a_separator():
    with pytest.raises(ValidationError, match="'From ' separator"):
        read_mbox("Subject: hi\n\n+1\n")


def test_html_only_message_has_no_body():
    msg = EmailMessage()
    msg["From"] = "x@example.org"
    msg["Subject"] = "Re: [VOTE] Release Acme Library 1.0.0"
    msg.set_content("<p>+1</p>", subtype="html")
    [parsed] = read_mbox(mbox_text(msg))
    assert parsed.body == ""


def test_multipart_message_uses_the_plain_text_part():
    msg = message("x@example.org", "+1 from the plain part")
    msg.add_alternative("<p>-1</p>", subtype="html")
    [parsed] = read_mbox(mbox_text(msg))
    assert find_vote(parsed.body).value == "+1"


def test_quoted_printable_body_is_decoded():
    msg = message("x@example.org", "+1 caf\u00e9 " + "x" * 100)
    msg.replace_header("Content-Transfer-Encoding", "quoted-printable")
    msg.set_content("+1 caf\u00e9 " + "x" * 100, cte="quoted-printable")
    [parsed] = read_mbox(mbox_text(msg))
    assert parsed.body.startswith("+1 caf\u00e9")


def test_maildir_is_read_without_changing_it(tmp_path):
    box = mailbox.Maildir(tmp_path / "list", create=True)
    box.add(message("a@example.org", "+1", msgid="<1@x>"))
    box.add(message("b@example.org", "-1", msgid="<2@x>"))
    before = sorted(p.name for p in (tmp_path / "list").rglob("*"))
    found = read_maildir(tmp_path / "list")
    assert sorted(m.message_id for m in found) == ["<1@x>", "<2@x>"]
    assert sorted(p.name for p in (tmp_path / "list").rglob("*")) == before


def test_not_a_maildir(tmp_path):
    with pytest.raises(ValidationError, match="not a Maildir"):
        read_maildir(tmp_path)


PONY = {
    "thread": {
        "mid": "abc",
        "message-id": THREAD,
        "from": "ATR <atr@example.org>",
        "subject": "[VOTE] Release Acme Library 1.0.0",
        "epoch": 1770105600,
        "children": [
            {
                "mid": "def",
                "message-id": "<p1@x>",
                "from": "Alice <alice@example.org>",
                "subject": "Re: [VOTE] Release Acme Library 1.0.0",
                "epoch": 1770109200,
                "children": [],
            }
        ],
    },
    "emails": [
        {
            "id": "def",
            "mid": "def",
            "message-id": "<p1@x>",
            "from": "Alice <alice@example.org>",
            "subject": "Re: [VOTE] Release Acme Library 1.0.0",
            "epoch": 1770109200,
            "list": "<dev.acme-lib.apache.org>",
            "list_raw": "<dev.acme-lib.apache.org>",
            "body": "+1 (binding)\n\nOn Tue, ATR wrote:\n> [ ] +1 Release\n",
        },
        {
            "id": "ghi",
            "message-id": "<p2@x>",
            "from": "dan@example.org",
            "subject": "Re: [VOTE] Release Acme Library 1.0.0",
            "epoch": 1770112800,
            "list": "<dev.acme-lib.apache.org>",
            "body": "-1\n",
        },
    ],
}


def test_ponymail_thread():
    found = read_ponymail(json.dumps(PONY))
    assert [m.message_id for m in found] == ["<p1@x>", "<p2@x>"]  # tree nodes without body skipped
    alice = found[0]
    assert alice.sender == "alice@example.org"
    assert alice.date == datetime.fromtimestamp(1770109200, UTC)
    assert alice.lists == ("dev@acme-lib.apache.org",)
    assert find_vote(alice.body).value == "+1"
    assert all(MATCHER.matches(m) for m in found)


@pytest.mark.parametrize(("text", "message"), [("nope", "not JSON"), ("[]", "JSON object")])
def test_bad_ponymail(text, message):
    with pytest.raises(ValidationError, match=message):
        read_ponymail(text)


# --- the vote's thread ----------------------------------------------------------------------------


def parsed(**kwargs):
    return read_mbox(mbox_text(message("x@example.org", "+1", **kwargs)))[0]


def test_thread_by_reference_or_by_subject():
    assert MATCHER.matches(parsed())
    assert MATCHER.matches(parsed(refs=None))
    assert MATCHER.matches(parsed(refs=None, subject="RE: AW: [VOTE] Release acme-lib 1.0.0 RC2"))
    assert MATCHER.matches(parsed(subject="Something else"))  # it answers the thread


@pytest.mark.parametrize(
    "subject",
    [
        "Re: [VOTE] Release Acme Library 1.0.01",
        "Re: [VOTE] Release Acme Library 11.0.0",
        "Re: [VOTE] Release Acme Library 1.0.0.1",
        "Re: [RESULT] [VOTE] Release Acme Library 1.0.0",
        "Re: [DISCUSS] [VOTE] Release Acme Library 1.0.0",
        "Re: [VOTE] Release Globex 1.0.0",
        "Re: Release Acme Library 1.0.0",
    ],
)
def test_other_subjects_are_other_threads(subject):
    assert not MATCHER.matches(parsed(refs=None, subject=subject))


def test_a_message_to_another_list_is_not_in_the_vote():
    assert not MATCHER.matches(parsed(to="general@incubator.apache.org"))


def test_normalized_subject():
    assert normalized_subject("Re: RE: Fwd:  [VOTE]  Release X") == "[vote] release x"
