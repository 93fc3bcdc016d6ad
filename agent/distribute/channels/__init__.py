"""Channel adapters: one module per registry, behind one interface (``base.Channel``).

:data:`ADAPTERS` names each :class:`~shared.protocol.distribute.ChannelKind`'s adapter;
:func:`adapter_for` imports it on first use, so the agent's API process (which only
names channels) does not load every registry's client at start. More come as plugins: a
package that declares an entry point in the group ``atr.channels`` (name: the kind,
value: the ``Channel`` subclass) is found by :func:`adapter_for`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from agent.distribute.channels.base import Channel, ChannelError
from shared.protocol.distribute import ChannelKind

__all__ = ["ADAPTERS", "adapter_for"]

ADAPTERS: dict[str, str] = {
    ChannelKind.SVN.value: "svn:SvnDist",
    ChannelKind.PYPI.value: "pypi:PyPI",
    ChannelKind.NPM.value: "npm:Npm",
    ChannelKind.OCI.value: "oci:OciRegistry",
    ChannelKind.MAVEN.value: "maven:MavenRepository",
    ChannelKind.NEXUS.value: "nexus:NexusStaging",
    ChannelKind.MAVEN_CENTRAL.value: "central:CentralPortal",
    ChannelKind.ARTIFACTORY.value: "artifactory:Artifactory",
}
"""The built-in adapters by kind: ``module:class`` in this package."""


def adapter_for(kind: str) -> type[Channel]:
    """The adapter of channel ``kind``: built in, or from an ``atr.channels`` entry point."""
    found = ADAPTERS.get(kind)
    if found is not None:
        module, name = found.split(":")
        adapter: type[Channel] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return adapter
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
