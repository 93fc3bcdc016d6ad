"""The agent's client: :class:`AgentClient` (REST over httpx) and :class:`EventStream` (websocket).

Both the desktop and the ``atr`` CLI talk to the agent only through this package.
Errors are :class:`shared.errors.ClientError` leaves: ``ConnectionFailed`` (agent
unreachable), ``ProtocolMismatch`` and ``ApiError`` (an error answer, with its
HTTP ``status`` and stable ``code``).
"""

from shared.client.agent_client import (
    API_PREFIX,
    AgentClient,
    ChallengeSigner,
    normalize_agent_url,
)
from shared.client.stream import (
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    CLOSED,
    CONNECTED,
    CONNECTING,
    MAX_PENDING,
    RECONNECTING,
    EventStream,
)

__all__ = [
    "API_PREFIX",
    "BACKOFF_INITIAL",
    "BACKOFF_MAX",
    "CLOSED",
    "CONNECTED",
    "CONNECTING",
    "MAX_PENDING",
    "RECONNECTING",
    "AgentClient",
    "ChallengeSigner",
    "EventStream",
    "normalize_agent_url",
]
