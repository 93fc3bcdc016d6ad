"""One manifest parser per ecosystem; :mod:`shared.sbom.manifests` picks the parser by file name."""
