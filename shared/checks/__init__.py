"""Compliance checks: pure functions of (files, policy) → results. See :mod:`shared.checks.base`."""
