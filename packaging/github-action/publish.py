#!/usr/bin/env python3
"""The ATR publish action: the job's OIDC token → an upload token → one new revision.

Standard library only (it runs on any runner's python3). Reads the action's inputs from
``INPUT_*`` and GitHub's ``ACTIONS_ID_TOKEN_REQUEST_URL`` / ``_TOKEN`` (present when the job
has ``permissions: id-token: write``); writes ``revision=N`` to ``$GITHUB_OUTPUT``.
Exit status 1 with a one-line ``::error::`` naming what failed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


class Failed(Exception):
    pass


def _env(name: str, *, required: bool = True) -> str:
    value = os.environ.get(name, "").strip()
    if required and not value:
        raise Failed(f"{name} is not set")
    return value


def _call(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    head = {"User-Agent": "atr-publish-action", **(headers or {})}
    if token:
        head["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        head["Content-Type"] = "application/json"
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise Failed(f"{url} is not an http(s) address")
    request = urllib.request.Request(url, data=data, method=method, headers=head)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:  # noqa: S310 - checked above
            raw = answer.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        try:
            detail = json.loads(text)
            text = detail.get("message", text) + (
                f" ({detail['hint']})" if detail.get("hint") else ""
            )
        except (ValueError, AttributeError):
            pass
        raise Failed(f"{method} {url}: {exc.code}: {text}") from exc
    except urllib.error.URLError as exc:
        raise Failed(f"{method} {url}: {exc.reason}") from exc
    return json.loads(raw) if raw else None


def oidc_token(audience: str) -> str:
    url = _env("ACTIONS_ID_TOKEN_REQUEST_URL")
    request_token = _env("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    sep = "&" if "?" in url else "?"
    answer = _call(
        "GET",
        f"{url}{sep}audience={urllib.parse.quote(audience)}",
        headers={"Authorization": f"bearer {request_token}"},
    )
    return str(answer["value"])


def default_version() -> str:
    ref = _env("GITHUB_REF_NAME")
    version = re.sub(r"^v", "", ref)
    return re.sub(r"[-_.]?rc\d+$", "", version, flags=re.IGNORECASE)


def files_of(patterns: str) -> list[Path]:
    found: list[Path] = []
    for raw in patterns.splitlines():
        line = raw.strip()
        if not line:
            continue
        matches = sorted(glob.glob(line))
        if not matches:
            raise Failed(f"no file matches {line!r}")
        found += [Path(m) for m in matches if Path(m).is_file()]
    if not found:
        raise Failed("no file to upload")
    return found


def main() -> int:
    try:
        agent = _env("INPUT_AGENT_URL").rstrip("/") + "/api/v1"
        project = _env("INPUT_PROJECT")
        version = _env("INPUT_VERSION", required=False) or default_version()
        files = files_of(_env("INPUT_FILES"))
        jwt = oidc_token(_env("INPUT_AUDIENCE", required=False) or "atr")
        granted = _call("POST", f"{agent}/oidc/exchange", body={"token": jwt})
        token = granted["token"]
        print(f"upload token for {granted['project']} until {granted['expires_at']}")
        releases = _call("GET", f"{agent}/projects/{project}/releases", token=token)
        if not any(r["version"] == version for r in releases):
            _call(
                "POST",
                f"{agent}/projects/{project}/releases",
                token=token,
                body={"version": version},
            )
            print(f"created release {project} {version}")
        manifest = {}
        for path in files:
            with path.open("rb") as data:
                blob = _call(
                    "POST",
                    f"{agent}/uploads",
                    token=token,
                    data=data,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "X-Atr-Filename": path.name,
                        "Content-Length": str(path.stat().st_size),
                    },
                )
            manifest[path.name] = blob["sha256"]
            print(f"uploaded {path.name} ({blob['size']} bytes, SHA-512 {blob['sha512'][:16]}…)")
        run = (
            f"{os.environ.get('GITHUB_SERVER_URL', '')}/{os.environ.get('GITHUB_REPOSITORY', '')}"
            f"/actions/runs/{os.environ.get('GITHUB_RUN_ID', '')}"
        )
        message = _env("INPUT_MESSAGE", required=False) or f"built by {run}"
        revision = _call(
            "POST",
            f"{agent}/projects/{project}/releases/{version}/revisions",
            token=token,
            body={"files": manifest, "message": message},
        )
        print(
            f"revision {revision['number']} of {project} {version}: the release manager is "
            "asked to sign it"
        )
        output = os.environ.get("GITHUB_OUTPUT")
        if output:
            with open(output, "a", encoding="utf-8") as fh:
                fh.write(f"revision={revision['number']}\n")
    except Failed as exc:
        print(f"::error::{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
