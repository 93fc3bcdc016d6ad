"""Release votes in the agent: starting them, ballots (signed in the desktop or read from the
mailing list), the live tally and the decision when the time is up.

* :mod:`agent.votes.service` — every vote write, by role, each with its events and mail;
* :mod:`agent.votes.mailparse` — email ballots from mbox, Maildir and Pony Mail JSON;
* :mod:`agent.votes.scheduler` — the agent's loop that decides votes whose time is up and
  delivers due mail.

The rules themselves (who wins, what a ballot text is) are pure functions in
:mod:`shared.votes`, so the desktop shows the same tally.
"""
