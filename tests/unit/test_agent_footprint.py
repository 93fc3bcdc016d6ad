"""What the agent's process loads at start, and its migrations (issue 10: start < 2 s,
agent + two idle workers < 250 MB; ``benchmarks/startup.py`` measures them).

Libraries that only some requests need (pgpy, httpx, PyJWT, securesystemslib, the
registries' adapters) and Alembic (only a database behind the code needs it) are loaded
on first use, not by the API process's start.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from agent.db.session import (
    HEAD_REVISION,
    MIGRATIONS_DIR,
    MigrationFailed,
    current_revision,
    finish_migration,
    make_engine,
    migrate,
    sqlite_url,
    start_migration,
)

ROOT = Path(__file__).resolve().parents[2]

NOT_AT_START = (
    "pgpy",
    "httpx",
    "jwt",
    "securesystemslib",
    "alembic",
    "agent.distribute.channels.pypi",
    "agent.distribute.channels.oci",
)


def _probe(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_head_revision_is_alembics_head():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_the_api_process_starts_without_the_libraries_of_some_requests(tmp_path):
    migrate(make_engine(sqlite_url(tmp_path)))  # as serve leaves it before create_app
    loaded = _probe(
        "import sys\n"
        "from pathlib import Path\n"
        "from agent.api.deps import AgentState\n"
        "from agent.app import create_app\n"
        "from agent.config import load_settings\n"
        f"settings = load_settings(data_dir=Path({str(tmp_path)!r}))\n"
        "create_app(settings)\n"
        "AgentState.open(settings).close()\n"
        f"print(sorted(m for m in {NOT_AT_START!r} if m in sys.modules))"
    )
    assert loaded == "[]"


def test_a_database_at_head_is_opened_without_alembic(tmp_path):
    url = sqlite_url(tmp_path)
    assert start_migration(url) is not None  # never migrated: needs Alembic
    migrate(make_engine(url))
    assert current_revision(make_engine(url)) == HEAD_REVISION
    loaded = _probe(
        "import sys\n"
        "from agent.db.session import make_engine, migrate\n"
        f"migrate(make_engine({url!r}))\n"
        "print('alembic' in sys.modules)"
    )
    assert loaded == "False"
    assert start_migration(url) is None


def test_a_fresh_database_is_migrated_by_a_child_process(tmp_path):
    url = sqlite_url(tmp_path)
    assert current_revision(make_engine(url)) is None
    child = start_migration(url)
    assert child is not None
    finish_migration(child)
    assert child.returncode == 0
    assert current_revision(make_engine(url)) == HEAD_REVISION


def test_a_failed_migration_says_why(tmp_path):
    url = sqlite_url(tmp_path)
    child = start_migration(url)
    assert child is not None
    child.kill()  # as if it had died; its error is the code, there are no words
    with pytest.raises(MigrationFailed, match="ended with code"):
        finish_migration(child)


def test_an_unreachable_database_fails_with_the_databases_words(tmp_path):
    (tmp_path / "agent.db").mkdir()  # a folder where the database file should be
    with pytest.raises(OperationalError, match="unable to open database file"):
        finish_migration(start_migration(sqlite_url(tmp_path)))
