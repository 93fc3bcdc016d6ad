"""Test servers that follow registries' published APIs where no real server installs here.

:mod:`.server` runs any of them (an ASGI app) on a free loopback port in a thread;
:mod:`.nexus2`, :mod:`.central_portal` and :mod:`.artifactory` are the servers, each
module's docstring citing the API facts it follows.
"""
