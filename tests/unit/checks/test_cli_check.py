"""`atr check` end to end: through the `atr` group, as a user runs it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from shared.cli import main
from tests.support.gpg import GpgFactory
from tests.unit.checks import hostile

NAME = "apache-foo-1.0-src"
ART = f"{NAME}.tar.gz"


def signed_release(folder: Path, gpg_factory: GpgFactory) -> Path:
    folder.mkdir()
    art = hostile.write_tar(folder / ART, hostile.source_tree(NAME))
    gpg_factory.sign("rsa4096", art)
    (folder / (ART + ".sha512")).write_text(
        f"SHA512 ({ART}) = {hashlib.sha512(art.read_bytes()).hexdigest()}\n"
    )
    keys = folder.parent / "KEYS"
    keys.write_text(gpg_factory.keys_file(["rsa4096", "ed25519"]))
    return keys


def test_json_output_and_exit_codes(tmp_path: Path, gpg_factory: GpgFactory) -> None:
    folder = tmp_path / "rel"
    keys = signed_release(folder, gpg_factory)
    result = CliRunner().invoke(main, ["check", str(folder), "--keys", str(keys), "--json"])
    data = json.loads(result.output)
    assert list(data) == ["results", "summary"]
    for item in data["results"]:
        assert list(item) == ["check", "path", "status", "message", "data"]
    [sig] = [r for r in data["results"] if r["check"] == "signatures"]
    assert sig["data"]["fingerprints"] == [gpg_factory.key("rsa4096").fingerprint]
    mine = [
        r
        for r in data["results"]
        if r["check"] in ("paths", "keys", "signatures", "checksums", "archives")
    ]
    assert {r["status"] for r in mine} == {"pass"}
    blockers = [r for r in data["results"] if r["status"] == "blocker"]
    assert result.exit_code == (1 if blockers else 0)
    assert data["summary"]["blocker"] == len(blockers)

    (folder / ".DS_Store").write_bytes(b"")
    result = CliRunner().invoke(main, ["check", str(folder), "--keys", str(keys), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["summary"]["blocker"] >= 1


def test_policy_ignores_and_human_output(tmp_path: Path, gpg_factory: GpgFactory) -> None:
    folder = tmp_path / "rel"
    keys = signed_release(folder, gpg_factory)
    (folder / "notes.docx").write_bytes(b"")
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[[ignores]]\ncheck = "paths"\npath = "notes.*"\nreason = "kept on purpose"\n'
    )
    result = CliRunner().invoke(
        main, ["check", str(folder), "--keys", str(keys), "--policy", str(policy)]
    )
    assert "notes.docx" in result.output
    assert "[ignored: kept on purpose]" in result.output
    assert "\x1b[" not in result.output  # no colours when not a terminal
    assert "passing results not shown" in result.output
    all_results = CliRunner().invoke(main, ["check", str(folder), "--keys", str(keys), "--all"])
    assert "good signature by ATR Test rsa4096" in all_results.output


def test_could_not_run(tmp_path: Path) -> None:
    missing = CliRunner().invoke(main, ["check", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    bad_policy = tmp_path / "p.toml"
    bad_policy.write_text("podlin = true\n")
    result = CliRunner().invoke(main, ["check", str(tmp_path), "--policy", str(bad_policy)])
    assert result.exit_code == 2
    assert "podlin" in result.output


def test_atr_commands_are_loaded_on_use_and_help_matches_them() -> None:
    """`atr --help` lists every command from COMMAND_HELP without importing them; the text
    there is each command's own short help (regenerate it when a docstring changes)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from shared.cli.command_help import COMMAND_HELP  # noqa: PLC0415
    from shared.cli.main import COMMANDS, load_command, main  # noqa: PLC0415

    assert set(COMMAND_HELP) == set(COMMANDS)
    for name in COMMANDS:
        command = load_command(name)
        assert command.name == name
        assert COMMAND_HELP[name] == command.get_short_help_str(limit=1000), name
    assert not (set(main.commands) - set(COMMANDS))
    probe = (
        "import sys; from shared.cli import main\n"
        "try: main(['--help'])\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('httpx', 'pgpy', 'shared.client', 'shared.checks.registry') "
        "if m in sys.modules]\nprint('HEAVY', heavy, file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "HEAVY []" in proc.stderr
    assert "check " in proc.stdout and "vote " in proc.stdout
