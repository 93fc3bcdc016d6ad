"""Triggers: what starts a release without a person at the desktop, and what waits for one.

* :mod:`agent.triggers.oidc` — GitHub Actions trusted publishing: a workflow's OIDC token
  exchanged for a short-lived upload token of one project (:mod:`.publishers` holds the
  rules);
* :mod:`agent.triggers.webhook` — a GitBox/GitHub push of a release tag (HMAC-verified);
  :mod:`.gitsource` fetches the tagged tree and builds the source archive reproducibly;
* :mod:`agent.triggers.distwatch` — a ``release.toml`` committed to ``dist/dev/<project>/``;
* :mod:`agent.triggers.compose` — the release, its revision and the request to sign;
* :mod:`agent.triggers.nextsteps` — every step that waits for a person;
* :mod:`agent.triggers.importer` — every past release of an ASF-style dist folder;
* :mod:`agent.triggers.practice`, :mod:`.stats`, :mod:`.metrics` — the project page, the
  release statistics and the Prometheus metrics, computed from the event log.

See docs/triggers.md and docs/metrics.md.
"""
