"""``atr-agent keys automation …`` and ``atr-agent attestation …``: the operator's commands.

::

    atr-agent keys automation list [--json]
    atr-agent keys automation generate --use attestation [--algorithm ed25519|ecdsa-p256] [--days N]
    atr-agent keys automation generate --use codesign --subject 'CN=…' --certificate csr|self-signed
    atr-agent keys automation import FILE --use attestation|codesign [--pkcs12] [--password-file F]
    atr-agent keys automation rotate FINGERPRINT [--days N] [--certificate …]
    atr-agent keys automation revoke FINGERPRINT --reason TEXT
    atr-agent keys automation csr FINGERPRINT [-o FILE]
    atr-agent keys automation certificate FINGERPRINT CERT.pem
    atr-agent keys automation publish [-o FILE]
    atr-agent keys automation check-expiry
    atr-agent attestation write PROJECT VERSION     write a passed vote's attestations again

Nothing prints a private key. Passwords are read from a file or a prompt, never an argument.
The heavy modules are imported when a command runs.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import click
from sqlalchemy.orm import Session

from agent.config import Settings

__all__ = ["attestation_group", "automation_group"]

_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)
_OUT = click.Path(dir_okay=False, path_type=Path)


class _HasSettings(Protocol):
    def settings(self, **overrides: Any) -> Settings: ...


@contextmanager
def _session(obj: _HasSettings) -> Iterator[tuple[Session, Settings]]:
    """One operator transaction on the agent's database (migrated first)."""
    from agent.db.session import make_engine, make_session_factory, migrate, transaction  # noqa: PLC0415

    settings = obj.settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        with transaction(make_session_factory(engine)) as session:
            yield session, settings
    finally:
        engine.dispose()


def _operator() -> Any:
    from agent.store import Principal  # noqa: PLC0415

    return Principal.operator()


def _show(key: Any) -> None:
    click.echo(f"{key.use} key {key.fingerprint} ({key.algorithm}, {key.state})")
    if key.subject:
        click.echo(f"  certificate: {key.subject} (issuer {key.issuer})")
    if key.not_after:
        click.echo(f"  valid until {key.not_after:%Y-%m-%d %H:%M} UTC ({key.expires_in_days} days)")


def _password(path: Path | None, prompt: bool) -> str:
    if path is not None:
        return path.read_text("utf-8").rstrip("\n")
    if prompt and sys.stdin.isatty():
        return str(click.prompt("Password (empty for none)", hide_input=True, default=""))
    return ""


@click.group("automation")
def automation_group() -> None:
    """The agent's own keys: the attestation key and code-signing certificates."""


@automation_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="print list[AutomationKeyOut] as JSON")
@click.pass_obj
def automation_list(obj: _HasSettings, as_json: bool) -> None:
    """Every automation key: fingerprint, use, algorithm, state, validity (never a private key)."""
    from agent.provenance.keys import list_keys  # noqa: PLC0415

    with _session(obj) as (session, _settings):
        keys = list_keys(session)
    if as_json:
        click.echo("[" + ",".join(k.model_dump_json() for k in keys) + "]")
        return
    widths = (64, 11, 10, 8, 16, 16)
    header = ("FINGERPRINT", "USE", "ALGORITHM", "STATE", "NOT AFTER", "RETIRED/REVOKED")
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for k in keys:
        ended = k.revoked_at or k.retired_at
        cells = (
            k.fingerprint, k.use, k.algorithm, k.state,
            f"{k.not_after:%Y-%m-%d}" if k.not_after else "-",
            f"{ended:%Y-%m-%d}" if ended else "",
        )  # fmt: skip
        click.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())


@automation_group.command("generate")
@click.option("--use", type=click.Choice(["attestation", "codesign"]), required=True)
@click.option("--algorithm", type=click.Choice(["ed25519", "ecdsa-p256", "rsa-3072", "rsa-4096"]))
@click.option("--days", type=click.IntRange(1, 3650), default=730, show_default=True)
@click.option("--subject", default="", help="a code-signing certificate's subject ('CN=…,O=…')")
@click.option(
    "--certificate",
    type=click.Choice(["none", "self-signed", "csr"]),
    default=None,
    help="code signing: a self-signed certificate (tests) or a CSR for a CA (default: csr)",
)
@click.option("--label", default="")
@click.option("--csr-out", type=_OUT, help="write the CSR here (with --certificate csr)")
@click.pass_obj
def automation_generate(  # noqa: PLR0917 - click passes every option by name
    obj: _HasSettings, use: str, algorithm: str | None, days: int, subject: str,
    certificate: str | None, label: str, csr_out: Path | None,
) -> None:  # fmt: skip
    """Make a new key; it becomes the active one of its use (a CSR's key once certified)."""
    from agent.provenance.keys import csr_pem, generate  # noqa: PLC0415
    from shared.protocol.provenance import KeyGenerate  # noqa: PLC0415

    chosen = certificate or ("none" if use == "attestation" else "csr")
    body = KeyGenerate.model_validate(
        {"use": use, "algorithm": algorithm, "days": days, "subject": subject,
         "certificate": chosen, "label": label}
    )  # fmt: skip
    with _session(obj) as (session, settings):
        key = generate(session, settings, _operator(), body)
        csr = csr_pem(session, _operator(), key.fingerprint) if chosen == "csr" else None
    _show(key)
    if csr is not None:
        if csr_out is not None:
            csr_out.write_text(csr, encoding="utf-8")
            click.echo(f"wrote the certificate signing request to {csr_out}")
        else:
            click.echo(csr, nl=False)
        click.echo(
            "send the CSR to the CA; then: atr-agent keys automation certificate "
            f"{key.fingerprint[:16]} CERT.pem",
            err=True,
        )


@automation_group.command("import")
@click.argument("key_file", metavar="FILE", type=_FILE)
@click.option("--use", type=click.Choice(["attestation", "codesign"]), required=True)
@click.option("--pkcs12", is_flag=True, help="FILE is PKCS#12 (.p12/.pfx); default: PEM")
@click.option("--password-file", type=_FILE, help="the password of the key or PKCS#12 file")
@click.option("--label", default="")
@click.option("--no-activate", is_flag=True, help="keep it retired (for verification only)")
@click.pass_obj
def automation_import(  # noqa: PLR0917 - click passes every option by name
    obj: _HasSettings, key_file: Path, use: str, pkcs12: bool, password_file: Path | None,
    label: str, no_activate: bool,
) -> None:  # fmt: skip
    """Import a key made elsewhere; it is encrypted with the vault's key at once."""
    from agent.provenance.keys import import_key  # noqa: PLC0415
    from shared.protocol.provenance import KeyImport  # noqa: PLC0415

    data = key_file.read_bytes()
    password = _password(password_file, prompt=pkcs12)
    fields: dict[str, Any] = {"use": use, "password": password, "label": label,
                              "activate": not no_activate}  # fmt: skip
    if pkcs12:
        fields["pkcs12_base64"] = base64.b64encode(data).decode()
    else:
        fields["pem"] = data.decode("utf-8", "replace")
    with _session(obj) as (session, settings):
        key = import_key(session, settings, _operator(), KeyImport.model_validate(fields))
    _show(key)


@automation_group.command("rotate")
@click.argument("fingerprint")
@click.option("--days", type=click.IntRange(1, 3650), default=730, show_default=True)
@click.option("--algorithm", type=click.Choice(["ed25519", "ecdsa-p256", "rsa-3072", "rsa-4096"]))
@click.option("--certificate", type=click.Choice(["none", "self-signed", "csr"]), default="none")
@click.option("--subject", default="")
@click.pass_obj
def automation_rotate(  # noqa: PLR0917 - click passes every option by name
    obj: _HasSettings, fingerprint: str, days: int, algorithm: str | None, certificate: str,
    subject: str,
) -> None:  # fmt: skip
    """A new active key replaces FINGERPRINT, which is retired (and stays published)."""
    from agent.provenance.keys import rotate  # noqa: PLC0415
    from shared.protocol.provenance import KeyRotate  # noqa: PLC0415

    body = KeyRotate.model_validate(
        {"days": days, "algorithm": algorithm, "certificate": certificate, "subject": subject}
    )
    with _session(obj) as (session, settings):
        key = rotate(session, settings, _operator(), fingerprint, body)
    _show(key)


@automation_group.command("revoke")
@click.argument("fingerprint")
@click.option("--reason", required=True, help="why (published with the key)")
@click.pass_obj
def automation_revoke(obj: _HasSettings, fingerprint: str, reason: str) -> None:
    """Revoke a key: what it signed is reported as signed by a revoked key."""
    from agent.provenance.keys import revoke  # noqa: PLC0415
    from shared.protocol.provenance import KeyRevoke  # noqa: PLC0415

    with _session(obj) as (session, _settings):
        key = revoke(session, _operator(), fingerprint, KeyRevoke(reason=reason))
    _show(key)


@automation_group.command("csr")
@click.argument("fingerprint")
@click.option("-o", "--output", type=_OUT)
@click.pass_obj
def automation_csr(obj: _HasSettings, fingerprint: str, output: Path | None) -> None:
    """Print the certificate signing request of a pending code-signing key."""
    from agent.provenance.keys import csr_pem  # noqa: PLC0415

    with _session(obj) as (session, _settings):
        text = csr_pem(session, _operator(), fingerprint)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@automation_group.command("certificate")
@click.argument("fingerprint")
@click.argument("cert_file", metavar="CERT.pem", type=_FILE)
@click.pass_obj
def automation_certificate(obj: _HasSettings, fingerprint: str, cert_file: Path) -> None:
    """Install the certificate (and chain) a CA issued for a pending key; it becomes active."""
    from agent.provenance.keys import install_certificate  # noqa: PLC0415
    from shared.protocol.provenance import CertificateInstall  # noqa: PLC0415

    body = CertificateInstall(certificate_pem=cert_file.read_text("utf-8"))
    with _session(obj) as (session, _settings):
        key = install_certificate(session, _operator(), fingerprint, body)
    _show(key)


@automation_group.command("publish")
@click.option("-o", "--output", type=_OUT)
@click.pass_obj
def automation_publish(obj: _HasSettings, output: Path | None) -> None:
    """Print the published key file (what /.well-known/atr/automation-keys.pem serves)."""
    from agent.provenance.keys import published_key_file  # noqa: PLC0415

    with _session(obj) as (session, settings):
        text = published_key_file(session, settings)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@automation_group.command("check-expiry")
@click.pass_obj
def automation_check_expiry(obj: _HasSettings) -> None:
    """Raise the expiry alarms that are due now (events and mails; once per threshold)."""
    from agent.provenance.alarms import check_expiry  # noqa: PLC0415

    with _session(obj) as (session, settings):
        raised = check_expiry(session, settings)
    for alarm in raised:
        click.echo(
            f"{alarm.use} key {alarm.fingerprint[:16]}…: {alarm.days_left} days left "
            f"(threshold {alarm.threshold}); mailed {', '.join(alarm.mailed_to) or 'nobody'}"
        )
    if not raised:
        click.echo("no alarm due")


@click.group("attestation")
def attestation_group() -> None:
    """A release's attestations."""


@attestation_group.command("write")
@click.argument("project")
@click.argument("version")
@click.pass_obj
def attestation_write(obj: _HasSettings, project: str, version: str) -> None:
    """Queue the attestations of a passed vote again (after a failure was fixed)."""
    from agent.engine import queue  # noqa: PLC0415
    from agent.store import release_row  # noqa: PLC0415
    from shared.protocol import TaskType  # noqa: PLC0415

    with _session(obj) as (session, _settings):
        release = release_row(session, project, version)
        task = queue.enqueue(
            session, TaskType.ATTEST, project=project, version=version, revision=None,
            args={"release": release.id, "trigger": "vote"}, created_by="operator",
            max_attempts=5, timeout_seconds=1800,
        )  # fmt: skip
        click.echo(f"queued task {task.id}: the attestations of {project} {version}")
