"""One line of help per ``atr`` command, for ``atr --help`` without importing the commands.

``tests/unit/checks/test_cli_check.py`` keeps it equal to each command's own short help.
"""

from __future__ import annotations

COMMAND_HELP: dict[str, str] = {
    "login": "Check a token against the agent and save both to the config file (mode 0600).",
    "logout": "Forget the saved token (the agent URL stays).",
    "whoami": "Show the user the token belongs to.",
    "token": "Create, list and revoke API tokens.",
    "projects": "List the projects.",
    "releases": "List a project's releases.",
    "release": "Create, show and move releases.",
    "upload": "Upload FILES and make one new revision of the release with them.",
    "revisions": "List a release's revisions.",
    "download": "Download one file of a revision.",
    "status": "Where a release stands (phase, latest files, recent tasks), or a whole project.",
    "task": "Start and show tasks.",
    "tasks": "List tasks.",
    "watch": "Stream events as they happen: of task TASK_ID, or of --project [--version].",
    "events": "Show a page of the event log.",
    "keys": "A project's signing keys and its KEYS file.",
    "vote": "Release votes: start one, follow the tally, cast a signed ballot, count email votes.",
    "check": (
        "Check the release artifacts in DIRECTORY, offline: signatures, checksums, paths,"
        " archives and the other registered checks."
    ),
    "checks": "Show the agent's check report of a release revision.",
    "policy": "Show and replace a project's check policy (limits, switches, ignore rules).",
    "distribute": "A release's way to the dist repository and its channels.",
    "attestation": "A release's signed attestations and the agent's keys that sign them.",
    "verify": (
        "Verify a downloaded release offline: OpenPGP signatures against KEYS, checksums, the"
        " attestations' signatures against the agent's key, and that every subject is a file"
        " here."
    ),
    "codesign": (
        "Windows (Authenticode) and Apple signatures of a release's files, before its vote."
    ),
    "waiting": "The steps waiting for you, in every release in progress.",
    "triggers": "Trusted publishers, webhooks, the dist watch, imports, practice and statistics.",
}
