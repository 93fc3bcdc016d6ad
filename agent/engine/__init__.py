"""The engine: event log, event bus, task queue, worker processes and task handlers."""
