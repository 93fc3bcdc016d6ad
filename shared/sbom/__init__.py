"""Software bills of materials: manifest parsers, CycloneDX generation and validation, and
the ASF license categories of what the SBOM lists.

::

    licenses.py   ASF Category A / B / X of SPDX expressions (classify)
    model.py      Package, Manifest, ManifestError
    parsers/      one parser per ecosystem (Maven, npm, Python, Go, Cargo)
    manifests.py  is_manifest(path), parse_manifest(path, data)
    generate.py   build_sbom / generate_sbom: CycloneDX 1.6 JSON for one artifact
    validate.py   validate_cyclonedx (schema), ntia_gaps (NTIA minimum elements)
"""
