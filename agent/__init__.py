"""The headless agent: REST API, websocket event stream, task queue and workers."""
