"""The keys screen: models with protocol objects built here, and publish / revoke from the
desktop against a real agent (the project's KEYS then read back by GnuPG)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from desktop.keystore import Keystore
from desktop.models.keys import (
    KEY_STATE_COLOURS,
    MyKeysModel,
    ProjectKeysModel,
    local_key_state,
)
from desktop.session import Session
from desktop.viewmodels.keys import KeysViewModel
from desktop.viewmodels.main import MainViewModel
from desktop.views.keys_view import KeysView, RevokeDialog
from desktop.views.main_window import MainWindow
from shared.protocol.keys import ProjectKeyOut
from tests.desktop.conftest import QtLoop
from tests.desktop.gpg_home import gpg_key_validity, user_gnupg_home
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.support.agent import AgentProcess
from tests.support.keys import fresh_key

PROJECT = "acme-lib"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _project_key(fingerprint: str, state: str, **extra: Any) -> ProjectKeyOut:
    fields: dict[str, Any] = {
        "project": PROJECT,
        "fingerprint": fingerprint,
        "algorithm": "RSA",
        "bits": 4096,
        "user_ids": ["Alice Doe <alice@example.org>"],
        "created_at": NOW - timedelta(days=400),
        "expires_at": None,
        "revoked_at": None,
        "revocation_reason": None,
        "state": state,
        "flags": [],
        "owner": "alice",
        "added_by": "alice",
        "added_at": NOW - timedelta(days=10),
    }
    fields.update(extra)
    return ProjectKeyOut(**fields)


def test_project_keys_model_colours_each_state(qapp: Any) -> None:
    model = ProjectKeysModel()
    keys = [
        _project_key("A" * 40, "valid"),
        _project_key("B" * 40, "expiring", expires_at=NOW + timedelta(days=9)),
        _project_key("C" * 40, "expired", expires_at=NOW - timedelta(days=9), flags=["weak"]),
        _project_key("D" * 40, "revoked", revoked_at=NOW, revocation_reason="compromised"),
    ]
    model.set_keys(PROJECT, keys)

    assert model.rowCount() == 4
    for row, state in enumerate(("valid", "expiring", "expired", "revoked")):
        index = model.index(row, ProjectKeysModel.STATE)
        colour = model.data(index, Qt.ItemDataRole.ForegroundRole)
        assert isinstance(colour, QColor) and colour.name() == KEY_STATE_COLOURS[state]
    assert model.data(model.index(1, ProjectKeysModel.STATE)) == "expiring soon"
    assert model.data(model.index(0, ProjectKeysModel.FINGERPRINT)) == " ".join(["AAAA"] * 10)
    assert model.data(model.index(0, ProjectKeysModel.ALGORITHM)) == "RSA 4096"
    assert model.data(model.index(2, ProjectKeysModel.FLAGS)) == "weak"
    tip = model.data(model.index(3, ProjectKeysModel.STATE), Qt.ItemDataRole.ToolTipRole)
    assert "compromised" in tip and "stays in KEYS" in tip
    assert model.find("D" * 40) is keys[3]


def test_my_keys_model_and_local_states(qapp: Any, keystore: Keystore) -> None:
    key = keystore.import_armored(fresh_key("alice").secret_armor, passphrase=PASSPHRASE)
    model = MyKeysModel()
    model.set_keys(keystore.list_keys(), login=key.fingerprint)
    assert model.data(model.index(0, MyKeysModel.KEY)).endswith("— login key")
    assert model.data(model.index(0, MyKeysModel.BACKEND)) == "keystore"
    assert model.data(model.index(0, MyKeysModel.EXPIRES)) == "never"
    assert model.data(model.index(0, MyKeysModel.PUBLISHED)) == "—"
    model.set_published({key.fingerprint: "acme-lib (valid)"})
    assert model.data(model.index(0, MyKeysModel.PUBLISHED)) == "acme-lib (valid)"
    assert local_key_state(key) == "valid"
    keystore.revoke(key.fingerprint, reason="retired", passphrase=PASSPHRASE)
    assert local_key_state(keystore.get(key.fingerprint)) == "revoked"


def test_revoke_dialog_needs_the_passphrase(qtbot: Any, keystore: Keystore) -> None:
    key = keystore.import_armored(fresh_key("alice").secret_armor, passphrase=PASSPHRASE)
    dialog = RevokeDialog(key, needs_passphrase=True)
    qtbot.addWidget(dialog)
    assert not dialog.revoke_button.isEnabled()
    dialog.passphrase_edit.setText("x")
    assert dialog.revoke_button.isEnabled()
    dialog.reason_combo.setCurrentIndex(1)
    dialog.comment_edit.setPlainText("  new key in KEYS  ")
    assert (dialog.reason, dialog.comment, dialog.passphrase) == (
        "superseded",
        "new key in KEYS",
        "x",
    )


def test_publish_then_revoke_from_the_desktop(
    agent: AgentProcess, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    keystore, login = keystore_for(agent.pmc, tmp_path / "home")
    # a second key of alice's, with her registered email: the one published and revoked
    extra = keystore.import_armored(
        fresh_key("alice", agent.pmc.email).secret_armor, passphrase=PASSPHRASE
    )
    session = Session(keystore)
    qloop.run(session.login(agent.url, agent.pmc.name, login, passphrase=PASSPHRASE))
    vm = KeysViewModel(session)
    view = KeysView(vm)
    qtbot.addWidget(view)
    qloop.wait_until(lambda: vm.project == PROJECT, what="the keys screen to pick acme-lib")
    assert vm.projects() == [PROJECT]  # alice is on acme's PMC only
    assert vm.keys_url == f"{agent.url}/projects/{PROJECT}/KEYS"
    assert {k.fingerprint for k in vm.my_keys.entries()} == {login, extra.fingerprint}

    view.select_key(extra.fingerprint)
    assert view.publish_button.isEnabled()
    assert view.publish_button.text() == f"Publish my key to {PROJECT}"
    view.publish_button.click()
    qloop.wait_until(
        lambda: vm.published(extra.fingerprint) is not None, what="the key in acme-lib's KEYS"
    )
    entry = vm.published(extra.fingerprint)
    assert entry is not None and entry.state == "valid" and entry.owner == agent.pmc.name
    row = vm.my_keys.row_of(extra.fingerprint)
    assert vm.my_keys.data(vm.my_keys.index(row, MyKeysModel.PUBLISHED)) == f"{PROJECT} (valid)"
    assert not view.publish_button.isEnabled()  # published already

    # the generated KEYS file holds it now
    keys_file = qloop.run(session.keys_file(PROJECT))
    assert extra.fingerprint in keys_file.replace(" ", "")

    sent = qloop.run(
        vm.revoke(
            extra.fingerprint,
            reason="compromised",
            comment="test: laptop stolen",
            passphrase=PASSPHRASE,
        )
    )
    assert sent == [PROJECT]
    qloop.wait_until(
        lambda: (k := vm.published(extra.fingerprint)) is not None and k.state == "revoked",
        what="the key to show revoked",
    )
    revoked = vm.published(extra.fingerprint)
    assert revoked is not None and "compromised" in (revoked.revocation_reason or "").lower()
    assert vm.my_keys.data(vm.my_keys.index(row, MyKeysModel.STATE)) == "revoked"
    colour = vm.project_keys.data(
        vm.project_keys.index(vm.project_keys.entries().index(revoked), ProjectKeysModel.STATE),
        Qt.ItemDataRole.ForegroundRole,
    )
    assert colour.name() == KEY_STATE_COLOURS["revoked"]
    assert not view.revoke_button.isEnabled()
    # GnuPG reading the generated KEYS file sees the revocation
    keys_file = qloop.run(session.keys_file(PROJECT))
    assert gpg_key_validity(keys_file) == "r"
    qloop.run(session.aclose())


def test_gnupg_dialog_adds_a_key_of_the_users_gnupg_home(
    qloop: QtLoop, qtbot: Any, keystore: Keystore, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = Session(keystore)
    vm = KeysViewModel(session)
    view = KeysView(vm)
    qtbot.addWidget(view)
    with user_gnupg_home("Gina Gnu <gina@example.org>") as (home, fingerprint):
        monkeypatch.setenv("GNUPGHOME", str(home))  # GnuPG's default home: this one
        dialog = view.open_gnupg_dialog()
        assert dialog.keys_list.count() == 1  # listed from the default home at once
        dialog.home_edit.setText(str(home))
        dialog.list_keys()
        assert dialog.keys_list.count() == 1
        assert "Gina Gnu <gina@example.org>" in dialog.keys_list.item(0).text()
        assert not dialog.use_button.isEnabled()
        dialog.keys_list.setCurrentRow(0)
        assert dialog.use_button.isEnabled()
        dialog.use_button.click()
        qloop.wait_until(lambda: vm.my_keys.rowCount() == 1, what="the GnuPG key in my keys")
        assert vm.my_keys.key_at(0).fingerprint == fingerprint
        assert vm.my_keys.data(vm.my_keys.index(0, MyKeysModel.BACKEND)) == "GnuPG"
        assert not view.export_secret_button.isEnabled()  # the secret stays in GnuPG
        dialog.list_keys()  # added keys are not offered again
        assert dialog.keys_list.count() == 0
        assert "no secret key" in dialog.problem.text()
        dialog.home_edit.setText(str(home / "missing"))
        dialog.list_keys()
        assert "GnuPG" in dialog.problem.text()


def test_main_window_opens_the_keys_and_votes_windows(
    qloop: QtLoop, qtbot: Any, keystore: Keystore
) -> None:
    window = MainWindow(MainViewModel(Session(keystore)))
    qtbot.addWidget(window)
    assert window.keys_action.shortcut().toString() == "Ctrl+K"
    assert window.votes_action.shortcut().toString() == "Ctrl+Shift+V"
    keys = window.open_keys()
    assert keys.isVisible() and window.open_keys() is keys
    votes = window.open_votes()
    assert votes.isVisible() and window.open_votes() is votes
    keys.close()
    votes.close()
