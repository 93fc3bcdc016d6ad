"""``atr-agent import-dist``: the operator's import of a project's past releases."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import click
from sqlalchemy.orm import Session

from agent.blobs import BlobStore
from agent.config import Settings
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.store import Principal
from agent.triggers.importer import import_dist

__all__ = ["run_import"]


@contextmanager
def _sessions(settings: Settings) -> Iterator[tuple[Callable[[], Any], Callable[[], Any]]]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    try:
        migrate(engine)
        factory = make_session_factory(engine)

        def write() -> AbstractContextManager[Session]:
            return transaction(factory)

        yield factory, write
    finally:
        engine.dispose()


def run_import(
    settings: Settings, project: str, release_url: str, dev_url: str | None, *, as_json: bool
) -> None:
    """``atr-agent import-dist``: import, then print what was added."""
    blobs = BlobStore(
        settings.blob_dir,
        max_size=settings.max_upload_bytes,
        tmp_max_bytes=settings.effective_tmp_max_bytes,
    )
    blobs.open_tmp()
    try:
        with _sessions(settings) as (read, write):
            report = import_dist(
                project=project,
                release_url=release_url,
                dev_url=dev_url,
                read=read,
                write=write,
                blobs=blobs,
                principal=Principal.operator(),
                log=lambda line: click.echo(line, err=True),
            )
    finally:
        blobs.close()
    if as_json:
        click.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    for release in report.added:
        good = sum(1 for f in release.files if f.signature == "good")
        sums = ",".join(sorted({f.checksum for f in release.files}))
        click.echo(
            f"{release.area:7} {release.version:14} {release.released_at:%Y-%m-%d} "
            f"r{release.svn_revision:<6} {len(release.files)} artifact(s), {good} signed good, "
            f"checksums {sums}  ({release.path})"
        )
    for reason in report.skipped:
        click.echo(f"skipped {reason}", err=True)
    click.echo(
        f"{len(report.added)} release(s) added, {report.known} known before, "
        f"{report.keys_imported} key(s) imported, in {report.seconds:.1f} s"
    )
