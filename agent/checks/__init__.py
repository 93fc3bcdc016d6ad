"""Compliance checks in the agent: runs per revision, cached by their inputs, the report, the gate.

* :mod:`agent.checks.inputs` — which runs a revision needs and the hash of what each reads;
* :mod:`agent.checks.service` — queueing runs (or reusing cached results), rerunning, and
  beginning/finishing a run in a worker (results, SBOM, ``check.finished``, ``checks.done``);
* :mod:`agent.checks.report` — a revision's runs and results with the project's ignore rules;
* :mod:`agent.checks.gate` — no candidate/staged/vote while checks are unfinished, out of
  date or blocked; the automatic move from ``checks`` to ``candidate``;
* :mod:`agent.checks.policy` — a project's policy: read, validate, replace (an event);
* :mod:`agent.checks.queries` — reads for the API (report, SBOMs);
* :mod:`agent.checks.commands` — the websocket commands.

The checks themselves are :mod:`shared.checks`; the worker side is
:mod:`agent.engine.tasks.check`. See docs/checks-agent.md.

``agent.store`` imports this package lazily (inside its functions): modules here
import ``agent.store`` for its errors and writers.
"""
