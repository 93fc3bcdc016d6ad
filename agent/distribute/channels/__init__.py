"""Channel adapters: one module per registry, behind one interface (``base.Channel``).

:data:`ADAPTERS` maps each :class:`~shared.protocol.distribute.ChannelKind` to its adapter.
More come as plugins: a package that declares an entry point in the group
``atr.channels`` (name: the kind, value: the ``Channel`` subclass) is found by
:func:`adapter_for`.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from agent.distribute.channels.artifactory import Artifactory
from agent.distribute.channels.base import Channel, ChannelError
from agent.distribute.channels.central import CentralPortal
from agent.distribute.channels.maven import MavenRepository
from agent.distribute.channels.nexus import NexusStaging
from agent.distribute.channels.npm import Npm
from agent.distribute.channels.oci import OciRegistry
from agent.distribute.channels.pypi import PyPI
from agent.distribute.channels.svn import SvnDist
from shared.protocol.distribute import ChannelKind

__all__ = ["ADAPTERS", "adapter_for"]

ADAPTERS: dict[str, type[Channel]] = {
    ChannelKind.SVN.value: SvnDist,
    ChannelKind.PYPI.value: PyPI,
    ChannelKind.NPM.value: Npm,
    ChannelKind.OCI.value: OciRegistry,
    ChannelKind.MAVEN.value: MavenRepository,
    ChannelKind.NEXUS.value: NexusStaging,
    ChannelKind.MAVEN_CENTRAL.value: CentralPortal,
    ChannelKind.ARTIFACTORY.value: Artifactory,
}
"""The built-in adapters by kind."""


def adapter_for(kind: str) -> type[Channel]:
    """The adapter of channel ``kind``: built in, or from an ``atr.channels`` entry point."""
    found = ADAPTERS.get(kind)
    if found is not None:
        return found
    for entry in entry_points(group="atr.channels"):
        if entry.name == kind:
            loaded = entry.load()
            if isinstance(loaded, type) and issubclass(loaded, Channel):
                return loaded
            raise ChannelError(
                f"the plugin for channel kind {kind!r} ({entry.value}) is not a Channel",
                retryable=False,
            )
    raise ChannelError(
        f"this agent has no adapter for channel kind {kind!r}",
        retryable=False,
        hint=f"known kinds: {', '.join(sorted(ADAPTERS))}",
    )
