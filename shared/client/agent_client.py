"""``AgentClient``: the asyncio client of the agent's REST API, and the door to its event stream.

One client serves the desktop and the ``atr`` CLI. Every answer is validated
into :mod:`shared.protocol` models; every failure is a
:class:`~shared.errors.ClientError` (see :mod:`shared.client._errors`).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from shared.challenge import Challenge, Purpose, check_challenge
from shared.client import _errors
from shared.client._files import AtomicWriter, ChunkReader, check_readable_file
from shared.client.distribute import DistributeMethods
from shared.client.keys import KeysMethods
from shared.client.provenance import ProvenanceMethods
from shared.client.stream import MAX_PENDING, EventStream
from shared.client.triggers import TriggersMethods
from shared.client.votes import VotesMethods
from shared.errors import ClientError, ValidationError
from shared.ids import check_key, check_relpath, check_user_name, check_version
from shared.lifecycle import Phase
from shared.protocol import (
    BlobInfo,
    ChallengeRequest,
    ChallengeResponse,
    EventPage,
    Health,
    LoginRequest,
    LoginResponse,
    Project,
    Release,
    ReleaseCreate,
    Revision,
    RevisionCreate,
    Scope,
    Task,
    TaskCreate,
    TaskState,
    TaskType,
    TokenCreate,
    TokenCreated,
    TokenInfo,
    TokenRequest,
    TransitionRequest,
    User,
)
from shared.protocol.checks import CheckReport, PolicyOut, PolicyUpdate, SbomInfo
from shared.protocol.models import Model

T = TypeVar("T")

ChallengeSigner = Callable[[Challenge], str | Awaitable[str]]
"""Signs a checked challenge: the armored detached text signature of ``challenge.render()``
with the notation ``purpose@atr.apache.org=<challenge.purpose>``."""

API_PREFIX = "/api/v1"

_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _adapter(tp: type[T]) -> pydantic.TypeAdapter[T]:
    adapter = _ADAPTERS.get(tp)
    if adapter is None:
        adapter = _ADAPTERS[tp] = pydantic.TypeAdapter(tp)
    return adapter


def normalize_agent_url(url: str) -> str:
    """The agent's base URL (scheme, host, port, optional prefix) without a trailing ``/api/v1``.

    ``localhost:8470`` gets ``http://`` in front; other schemes than http(s) are refused.
    """
    text = url.strip()
    if not text:
        raise ValidationError("the agent URL is empty", hint="e.g. http://127.0.0.1:8470")
    if "://" not in text:
        text = f"http://{text}"
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ValidationError(f"{url!r} is not a valid agent URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationError(
            f"{url!r} is not a valid agent URL",
            hint="use http://HOST:PORT or https://HOST:PORT",
        )
    if parsed.query or parsed.fragment:
        raise ValidationError(f"{url!r} is not a valid agent URL: no query or fragment allowed")
    text = str(parsed).rstrip("/")
    if text.endswith(API_PREFIX):
        text = text[: -len(API_PREFIX)]
    return text


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


class AgentClient(KeysMethods, VotesMethods, DistributeMethods, ProvenanceMethods, TriggersMethods):
    """Client of one agent. Use as ``async with AgentClient(url, token=...) as client:``.

    ``transport`` is the seam for tests (``httpx.MockTransport``). ``token`` may be
    changed at any time (``login_with_signature`` sets it); streams pick up the new
    value when they reconnect.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = normalize_agent_url(base_url)
        self.api_url = self.base_url + API_PREFIX
        self.timeout = timeout
        self._token = token or None
        self._http = httpx.AsyncClient(
            base_url=self.api_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "atr-client"},
        )
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The bearer token sent with every request (``None``: anonymous)."""
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value or None

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close open event streams and the HTTP connection pool."""
        for stream in list(self._streams):
            await stream.close()
        await self._http.aclose()

    # --- plumbing ---------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: Model | None = None,
        params: Mapping[str, str | int] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        req_headers = dict(headers or {})
        if self._token:
            req_headers["Authorization"] = f"Bearer {self._token}"
        if body is not None:
            content = body.model_dump_json(exclude_unset=False)
            req_headers["Content-Type"] = "application/json"
        request = self._http.build_request(
            method, path, params=params, content=content, headers=req_headers
        )
        try:
            response = await self._http.send(request, stream=stream)
        except httpx.RequestError as exc:
            raise _errors.connection_failed(self.base_url, exc) from exc
        if response.is_error:
            if stream:
                try:
                    await response.aread()
                except httpx.RequestError as exc:
                    raise _errors.connection_failed(self.base_url, exc) from exc
                finally:
                    await response.aclose()
            raise _errors.api_error_from_response(response)
        return response

    async def _call(
        self,
        answer: type[T],
        method: str,
        path: str,
        *,
        body: Model | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> T:
        response = await self._send(method, path, body=body, params=params)
        return _errors.validate(
            _adapter(answer), response.content, what=f"an answer to {method} {path}"
        )

    @staticmethod
    def _release_path(project: str, version: str) -> str:
        check_key(project)
        check_version(version)
        return f"/projects/{_seg(project)}/releases/{_seg(version)}"

    # --- health and auth --------------------------------------------------------------------

    async def health(self) -> Health:
        """``GET /health``: the agent's version, protocol and last event id (no auth needed)."""
        return await self._call(Health, "GET", "/health")

    async def _signed_challenge(
        self, body: ChallengeRequest, sign: ChallengeSigner
    ) -> tuple[str, str]:
        """Ask for a challenge, check it (:func:`shared.challenge.check_challenge`) and have
        ``sign`` sign the checked challenge: (challenge id, signature). Nothing the agent sends
        reaches the signer unless it parses as a challenge for this user, this agent and this
        purpose, expiring within minutes."""
        check_user_name(body.user)
        answer = await self._call(ChallengeResponse, "POST", "/auth/challenge", body=body)
        challenge = check_challenge(
            answer.challenge, purpose=Purpose(body.purpose), user=body.user, agent=self.base_url
        )
        signed = sign(challenge)
        signature: str = await signed if inspect.isawaitable(signed) else signed
        return answer.challenge_id, signature

    async def login_with_signature(self, user: str, sign: ChallengeSigner) -> LoginResponse:
        """Log in by signing a one-time challenge; sets :attr:`token` to the session token.

        ``sign`` gets the checked :class:`~shared.challenge.Challenge` and returns the armored
        detached text signature of ``challenge.render()`` with its purpose notation
        (:func:`shared.openpgp.sign_challenge` makes one), or an awaitable of it (a GUI
        signs in a worker thread, off its event loop).
        """
        challenge_id, signature = await self._signed_challenge(
            ChallengeRequest(user=user, purpose="login"), sign
        )
        answer = await self._call(
            LoginResponse,
            "POST",
            "/auth/login",
            body=LoginRequest(challenge_id=challenge_id, signature=signature),
        )
        self.token = answer.token
        return answer

    async def create_token_signed(
        self, user: str, token: TokenRequest, sign: ChallengeSigner
    ) -> TokenCreated:
        """An API token for ``user`` asked for with a fresh signature of their key (no bearer
        token needed): it may live up to the agent's ``max_token_days``."""
        challenge_id, signature = await self._signed_challenge(
            ChallengeRequest(user=user, purpose="token", token=token), sign
        )
        return await self._call(
            TokenCreated,
            "POST",
            "/auth/token",
            body=LoginRequest(challenge_id=challenge_id, signature=signature),
        )

    async def me(self) -> User:
        """``GET /users/me``: the user the token belongs to."""
        return await self._call(User, "GET", "/users/me")

    # --- projects and releases --------------------------------------------------------------

    async def list_projects(self) -> list[Project]:
        """Every project the agent knows."""
        return await self._call(list[Project], "GET", "/projects")

    async def get_project(self, key: str) -> Project:
        """One project by key."""
        check_key(key)
        return await self._call(Project, "GET", f"/projects/{_seg(key)}")

    async def list_releases(self, project: str) -> list[Release]:
        """The releases of a project."""
        check_key(project)
        return await self._call(list[Release], "GET", f"/projects/{_seg(project)}/releases")

    async def get_release(self, project: str, version: str) -> Release:
        """One release."""
        return await self._call(Release, "GET", self._release_path(project, version))

    async def create_release(self, project: str, version: str) -> Release:
        """Create a release (phase ``compose``)."""
        check_key(project)
        check_version(version)
        return await self._call(
            Release,
            "POST",
            f"/projects/{_seg(project)}/releases",
            body=ReleaseCreate(version=version),
        )

    async def transition(self, project: str, version: str, to: Phase, reason: str = "") -> Release:
        """Move a release to phase ``to`` (409 ``invalid_transition`` if it is not allowed)."""
        return await self._call(
            Release,
            "POST",
            self._release_path(project, version) + "/transition",
            body=TransitionRequest(to=Phase(to), reason=reason),
        )

    # --- blobs and revisions ----------------------------------------------------------------

    async def upload_blob(
        self,
        path: Path,
        *,
        progress: Callable[[int, int], None] | None = None,
        chunk_size: int = 1 << 20,
    ) -> BlobInfo:
        """Stream a file to ``POST /uploads`` in ``chunk_size`` pieces; ``progress(sent, total)``.

        The SHA-256 computed while sending is checked against the agent's answer.
        """
        path = Path(path)
        size = check_readable_file(path)
        reader = ChunkReader(path, size=size, chunk_size=chunk_size, progress=progress)
        try:
            response = await self._send(
                "POST",
                "/uploads",
                content=reader,
                headers={
                    "Content-Length": str(size),
                    "Content-Type": "application/octet-stream",
                    "X-Atr-Filename": quote(path.name, safe=""),
                },
            )
        finally:
            await reader.aclose()  # also when cancelled or failed half-way
        info = _errors.validate(_adapter(BlobInfo), response.content, what="an upload answer")
        if info.sha256 != reader.sha256 or info.size != size:
            raise ClientError(
                f"the agent stored {path.name} with another digest or size than was sent "
                f"({info.sha256[:12]}…/{info.size} bytes, sent {reader.sha256[:12]}…/{size})",
                hint="the upload was damaged on the way; try again",
            )
        return info

    async def create_revision(
        self,
        project: str,
        version: str,
        *,
        files: Mapping[str, str],
        base: int | Literal["latest"] | None = "latest",
        remove: Sequence[str] = (),
        message: str = "",
    ) -> Revision:
        """Create a revision: ``base``'s files (``"latest"``: the release's latest revision,
        ``None``: none) with ``files`` (path → SHA-256 of an uploaded blob) added or
        replaced and ``remove`` taken out."""
        path = self._release_path(project, version)
        if base == "latest":
            base = (await self.get_release(project, version)).latest_revision
        try:
            body = RevisionCreate(
                base=base, files=dict(files), remove=list(remove), message=message
            )
        except pydantic.ValidationError as exc:
            raise ValidationError(f"invalid revision: {_first_error(exc)}") from exc
        return await self._call(Revision, "POST", path + "/revisions", body=body)

    async def upload_files(
        self,
        project: str,
        version: str,
        paths: Sequence[Path],
        *,
        names: Sequence[str] | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        message: str = "",
    ) -> Revision:
        """Upload each file, then create one revision on top of the latest with all of them.

        ``names`` are the paths inside the release (default: each file's name);
        ``progress(name, sent, total)`` reports every chunk. Every file is checked
        before the first byte is sent.
        """
        check_key(project)
        check_version(version)
        files = [Path(p) for p in paths]
        if not files:
            raise ValidationError("no files to upload")
        targets = list(names) if names is not None else [p.name for p in files]
        if len(targets) != len(files):
            raise ValidationError(f"{len(files)} files but {len(targets)} names")
        for target in targets:
            check_relpath(target)
        duplicates = sorted({t for t in targets if targets.count(t) > 1})
        if duplicates:
            raise ValidationError(f"the same release path is given twice: {', '.join(duplicates)}")
        for file in files:
            check_readable_file(file)
        uploaded: dict[str, str] = {}
        for file, target in zip(files, targets, strict=True):
            report = None
            if progress is not None:
                report = _bind_progress(progress, target)
            info = await self.upload_blob(file, progress=report)
            uploaded[target] = info.sha256
        return await self.create_revision(project, version, files=uploaded, message=message)

    async def list_revisions(self, project: str, version: str) -> list[Revision]:
        """Every revision of a release, oldest first."""
        return await self._call(
            list[Revision], "GET", self._release_path(project, version) + "/revisions"
        )

    async def get_revision(
        self, project: str, version: str, number: int | Literal["latest"] = "latest"
    ) -> Revision:
        """One revision (``"latest"``: the newest)."""
        return await self._call(
            Revision,
            "GET",
            self._release_path(project, version) + f"/revisions/{_revision_ref(number)}",
        )

    async def download_file(
        self,
        project: str,
        version: str,
        number: int | Literal["latest"],
        path: str,
        dest: Path,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Path:
        """Stream one file of a revision to ``dest`` (a file, or a folder to put it in).

        The file appears whole or not at all; ``progress(received, total)`` with
        ``total`` 0 when the agent does not say the size. Returns the written path.
        """
        check_relpath(path)
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / PurePosixPath(path).name
        url = (
            self._release_path(project, version)
            + f"/revisions/{_revision_ref(number)}/files/{quote(path, safe='/')}"
        )
        return await self._stream_to(url, dest, progress=progress)

    async def _stream_to(
        self, url: str, dest: Path, *, progress: Callable[[int, int], None] | None
    ) -> Path:
        """Stream ``GET url`` into ``dest`` atomically."""
        response = await self._send("GET", url, stream=True)
        try:
            total = int(response.headers.get("Content-Length", "0") or 0)
            received = 0
            if progress is not None:
                progress(0, total)
            async with AtomicWriter(dest) as out:
                async for chunk in response.aiter_bytes(1 << 20):
                    await out.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received, total)
        except httpx.RequestError as exc:
            raise _errors.connection_failed(self.base_url, exc) from exc
        finally:
            await response.aclose()
        return dest

    # --- tasks and events -------------------------------------------------------------------

    async def start_task(
        self,
        project: str,
        version: str,
        type: TaskType,
        *,
        revision: int | None = None,
        args: Mapping[str, Any] | None = None,
    ) -> Task:
        """Queue a task on a release's revision (default: the latest)."""
        try:
            body = TaskCreate(
                type=TaskType(type),
                project=project,
                version=version,
                revision=revision,
                args=dict(args or {}),
            )
        except (pydantic.ValidationError, ValueError) as exc:
            raise ValidationError(f"invalid task: {_first_error(exc)}") from exc
        return await self._call(Task, "POST", "/tasks", body=body)

    async def list_tasks(
        self,
        *,
        project: str | None = None,
        version: str | None = None,
        state: TaskState | str | None = None,
    ) -> list[Task]:
        """Tasks, optionally of one project, one release, or in one state."""
        params: dict[str, str | int] = {}
        if project is not None:
            params["project"] = check_key(project)
        if version is not None:
            params["version"] = check_version(version)
        if state is not None:
            try:
                params["state"] = TaskState(state).value
            except ValueError as exc:
                choices = ", ".join(s.value for s in TaskState)
                raise ValidationError(f"{state!r} is not a task state ({choices})") from exc
        return await self._call(list[Task], "GET", "/tasks", params=params)

    async def get_task(self, id: int) -> Task:
        """One task by id."""
        return await self._call(Task, "GET", f"/tasks/{int(id)}")

    async def events(
        self,
        *,
        since: int = 0,
        limit: int = 500,
        project: str | None = None,
        version: str | None = None,
    ) -> EventPage:
        """A page of the event log after ``since``; pass ``next_since`` back for the next page."""
        params: dict[str, str | int] = {"since": int(since), "limit": int(limit)}
        if project is not None:
            params["project"] = check_key(project)
        if version is not None:
            params["version"] = check_version(version)
        return await self._call(EventPage, "GET", "/events", params=params)

    # --- checks, SBOMs and policy ----------------------------------------------------------

    async def get_checks(
        self, project: str, version: str, revision: int | Literal["latest"] = "latest"
    ) -> CheckReport:
        """The check report of a revision: runs, results (ignore rules applied), summary."""
        return await self._call(
            CheckReport,
            "GET",
            self._release_path(project, version) + f"/revisions/{_revision_ref(revision)}/checks",
        )

    async def rerun_checks(
        self,
        project: str,
        version: str,
        revision: int | Literal["latest"] = "latest",
        *,
        everything: bool = False,
    ) -> CheckReport:
        """Redo the runs whose inputs changed (``everything``: all of them); the report after."""
        return await self._call(
            CheckReport,
            "POST",
            self._release_path(project, version)
            + f"/revisions/{_revision_ref(revision)}/checks/rerun",
            params={"all": "true" if everything else "false"},
        )

    async def list_sboms(
        self, project: str, version: str, revision: int | Literal["latest"] = "latest"
    ) -> list[SbomInfo]:
        """The CycloneDX SBOMs stored with a revision."""
        return await self._call(
            list[SbomInfo],
            "GET",
            self._release_path(project, version) + f"/revisions/{_revision_ref(revision)}/sboms",
        )

    async def download_sbom(
        self,
        project: str,
        version: str,
        revision: int | Literal["latest"],
        artifact: str,
        dest: Path,
    ) -> Path:
        """Save the SBOM of ``artifact`` to ``dest`` (a file, or a folder to put
        ``<artifact name>.cdx.json`` in). Returns the written path."""
        check_relpath(artifact)
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / (PurePosixPath(artifact).name + ".cdx.json")
        url = (
            self._release_path(project, version)
            + f"/revisions/{_revision_ref(revision)}/sboms/{quote(artifact, safe='/')}"
        )
        return await self._stream_to(url, dest, progress=None)

    async def get_policy(self, project: str) -> PolicyOut:
        """A project's check policy (every field) and who changed it last."""
        check_key(project)
        return await self._call(PolicyOut, "GET", f"/projects/{_seg(project)}/policy")

    async def update_policy(self, project: str, update: PolicyUpdate) -> PolicyOut:
        """Replace a project's check policy (PMC); the agent validates it (400 names the field)."""
        check_key(project)
        return await self._call(PolicyOut, "PUT", f"/projects/{_seg(project)}/policy", body=update)

    # --- tokens -----------------------------------------------------------------------------

    async def create_token(self, body: TokenCreate) -> TokenCreated:
        """Create an API token; the secret is in the answer only."""
        return await self._call(TokenCreated, "POST", "/tokens", body=body)

    async def list_tokens(self) -> list[TokenInfo]:
        """The caller's tokens (an admin's: everyone's)."""
        return await self._call(list[TokenInfo], "GET", "/tokens")

    async def revoke_token(self, id: int) -> TokenInfo:
        """Revoke a token by id."""
        return await self._call(TokenInfo, "DELETE", f"/tokens/{int(id)}")

    # --- stream -----------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """The websocket URL of the agent's event stream."""
        scheme, rest = self.api_url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws"

    def stream(
        self,
        scope: Scope = Scope(),  # noqa: B008 - Scope is frozen
        *,
        since: int | None = None,
        on_state: Callable[[str], None] | None = None,
        max_pending: int = MAX_PENDING,
    ) -> EventStream:
        """An :class:`EventStream` of ``scope``'s events after ``since`` (None: new ones only).

        At most ``max_pending`` received events wait for the consumer; beyond that
        the stream stops reading until the consumer catches up (no event is lost).
        """
        stream = EventStream(
            self.ws_url,
            token=lambda: self._token,
            scope=scope,
            since=since,
            on_state=on_state,
            timeout=self.timeout,
            agent_url=self.base_url,
            max_pending=max_pending,
        )
        self._streams.add(stream)
        return stream


def _revision_ref(number: int | Literal["latest"]) -> str:
    if number == "latest":
        return "latest"
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValidationError(f"{number!r} is not a revision number (1, 2, … or 'latest')")
    return str(number)


def _bind_progress(
    progress: Callable[[str, int, int], None], name: str
) -> Callable[[int, int], None]:
    def report(sent: int, total: int) -> None:
        progress(name, sent, total)

    return report


def _first_error(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        errors = exc.errors()
        if errors:
            err = errors[0]
            where = ".".join(str(p) for p in err.get("loc", ()))
            cause = err.get("ctx", {}).get("error")
            text = str(cause) if cause is not None else err.get("msg", "")
            return f"{where}: {text}" if where else text
    return str(exc)
