"""Mail templates per project (overrides in the data dir) and the file outbox."""

from __future__ import annotations

import email
import email.policy
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.mail import FileTransport, Mailer, MailTemplateError, MailTemplates, queue_mail
from shared.errors import ValidationError

CONTEXT = {
    "project": {"key": "acme-lib", "name": "Acme Library"},
    "version": "1.0.0",
    "revision": 2,
    "release_manager": "bob",
    "started_by": "bob",
    "vote": {"round": "project", "security": False, "list_address": "dev@acme-lib.apache.org"},
    "candidate_url": "https://atr.example.org/projects/acme-lib/candidates/1.0.0/",
    "keys_url": "https://atr.example.org/projects/acme-lib/KEYS",
    "artifacts": [
        {
            "path": "apache-acme-lib-1.0.0-src.tar.gz",
            "sha512": "ab" * 64,
            "size": 10,
            "url": "https://atr.example.org/projects/acme-lib/candidates/1.0.0/a.tar.gz",
            "asc_url": "https://atr.example.org/projects/acme-lib/candidates/1.0.0/a.tar.gz.asc",
            "checksum_url": None,
            "signers": [
                {"fingerprint": "ABCD " * 10, "user_id": "Bob <bob@a.org>", "standing": "in KEYS"}
            ],
        }
    ],
    "signers": [],
    "source_ref": "",
    "source_url": "",
    "release_notes_url": "",
    "release_notes_files": [],
    "ends_at": None,
    "ends_at_text": "2026-12-02 10:00 UTC",
    "hours_text": "72 hours",
    "vote_subject": "",
}


def test_the_default_vote_template(tmp_path: Path) -> None:
    mail = MailTemplates(tmp_path).render("vote.txt.j2", project="acme-lib", context=CONTEXT)
    assert mail.subject == "[VOTE] Release Acme Library 1.0.0"
    for needle in (
        "revision 2",
        CONTEXT["candidate_url"],
        CONTEXT["keys_url"],
        "apache-acme-lib-1.0.0-src.tar.gz\n",
        "    signature: https://atr.example.org/projects/acme-lib/candidates/1.0.0/a.tar.gz.asc",
        "    checksum:  none",
        "    SHA-512:   " + "ab" * 64,
        "    signed by: Bob <bob@a.org>\n               key ABCD",
        "gpg --import KEYS",
        "open until 2026-12-02 10:00 UTC (at least 72 hours)",
        "[ ] +1 Release this package as Acme Library 1.0.0",
    ):
        assert needle in mail.body, needle
    assert mail.body.endswith("bob\n")


def test_a_project_overrides_one_block_and_others_keep_the_default(tmp_path: Path) -> None:
    folder = tmp_path / "mail-templates" / "acme-lib"
    folder.mkdir(parents=True)
    (folder / "vote.txt.j2").write_text(
        '{% extends "default/vote.txt.j2" %}\n'
        "{% block body %}Please test on Java 17 and 21.\n\n{{ super() }}{% endblock %}\n"
    )
    templates = MailTemplates(tmp_path)
    acme = templates.render("vote.txt.j2", project="acme-lib", context=CONTEXT)
    assert acme.subject == "[VOTE] Release Acme Library 1.0.0"
    assert acme.body.startswith("Please test on Java 17 and 21.\n\nHello,")
    other = templates.render(
        "vote.txt.j2", project="globex-app", context={**CONTEXT, "project": {"name": "Globex"}}
    )
    assert not other.body.startswith("Please test")


def test_an_agent_wide_override(tmp_path: Path) -> None:
    (tmp_path / "mail-templates").mkdir()
    (tmp_path / "mail-templates" / "result.txt.j2").write_text(
        "{% block subject %}[RESULT] {{ project.name }} {{ outcome }}{% endblock %}"
        "{% block body %}{{ reason }}{% endblock %}"
    )
    mail = MailTemplates(tmp_path).render(
        "result.txt.j2",
        project="acme-lib",
        context={**CONTEXT, "outcome": "passed", "reason": "3 binding +1"},
    )
    assert (mail.subject, mail.body) == ("[RESULT] Acme Library passed", "3 binding +1\n")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{% block subject %}x{% endblock %}{% block body %}{{ nope }}{% endblock %}", "undefined"),
        ("{% block subject %}x{% endblock %}", "must define the blocks"),
        ("{% block subject %}{% endblock %}{% block body %}x{% endblock %}", "empty subject"),
        (
            "{% block subject %}x{% endblock %}{% block body %}{{ x.__class__ }}{% endblock %}",
            "unsafe",
        ),
        ("{% block subject %}{{ oops(} {% endblock %}", "does not render"),
    ],
)
def test_broken_overrides_fail_with_the_template_named(
    tmp_path: Path, template: str, message: str
) -> None:
    folder = tmp_path / "mail-templates" / "acme-lib"
    folder.mkdir(parents=True)
    (folder / "ballot.txt.j2").write_text(template)
    with pytest.raises(MailTemplateError, match=message):
        MailTemplates(tmp_path).render("ballot.txt.j2", project="acme-lib", context={"x": 1})


def test_unknown_template_and_bad_project_key(tmp_path: Path) -> None:
    with pytest.raises(MailTemplateError, match="no mail template named"):
        MailTemplates(tmp_path).render("nope.txt.j2", project=None, context={})
    with pytest.raises(ValidationError):
        MailTemplates(tmp_path).render("vote.txt.j2", project="../etc", context=CONTEXT)


def test_the_file_outbox(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    migrate(engine)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as session:
            row = queue_mail(
                session,
                kind="vote",
                sender="ATR <atr@example.org>",
                recipients=["dev@acme-lib.apache.org"],
                subject="[VOTE] Release Acme Library 1.0.0",
                body="Hello,\n\nvote, please.\n",
                actor="bob",
                project="acme-lib",
                version="1.0.0",
            )
            mail_id, message_id = row.id, row.message_id
        folder = tmp_path / "outbox"
        old = os.umask(0o077)  # even with a strict umask the file is readable by everyone
        try:
            report = Mailer(
                transaction=lambda: transaction(factory), transport=FileTransport(folder)
            ).deliver_due()
        finally:
            os.umask(old)
        assert report.sent == [mail_id]
        path = folder / f"{mail_id}.eml"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert [p.name for p in folder.iterdir()] == [path.name]  # no temp file left
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert msg["Message-ID"] == message_id
        assert msg["To"] == "dev@acme-lib.apache.org"
        assert msg["X-ATR-Release"] == "acme-lib 1.0.0"
        assert msg.get_content() == "Hello,\n\nvote, please.\n"
        with factory() as session:
            [sent] = session.scalars(select(models.Event).where(models.Event.kind == "mail.sent"))
            assert sent.data["transport"] == "file" and sent.data["where"] == str(path)
    finally:
        engine.dispose()


def test_bad_addresses_are_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'agent.db'}")
    migrate(engine)
    factory = make_session_factory(engine)
    try:
        for recipients, message in (
            ([], "at least one recipient"),
            (["not an address"], "not an email"),
        ):
            with pytest.raises(ValidationError, match=message), transaction(factory) as session:
                queue_mail(
                    session,
                    kind="vote",
                    sender="atr@example.org",
                    recipients=recipients,
                    subject="x",
                    body="y",
                    actor=None,
                )
        with factory() as session:
            assert session.scalars(select(models.OutboxMessage)).all() == []
    finally:
        engine.dispose()
