"""Provenance on the agent: its automation keys and certificates, the attestations it writes
for a release, build records, and OS code signing (Windows Authenticode, Apple).

* :mod:`agent.provenance.keys` — generate, import, rotate, revoke, publish (vault-encrypted);
* :mod:`agent.provenance.certs` — X.509 with ``cryptography``: CSR, self-signed, PKCS#12;
* :mod:`agent.provenance.alarms` — expiry alarms (event, desktop, mail once per threshold);
* :mod:`agent.provenance.attest` — write and read a release's attestations and bundle;
* :mod:`agent.provenance.predicates`, :mod:`agent.provenance.sbom` — what they say;
* :mod:`agent.provenance.builds` — the SLSA hook (a trusted CI build of a revision);
* :mod:`agent.provenance.codesign` — Authenticode (osslsigncode) and Apple (rcodesign).

What both sides of the wire agree on (Statements, DSSE, the published key file, offline
verification) is in :mod:`shared.provenance`.
"""
