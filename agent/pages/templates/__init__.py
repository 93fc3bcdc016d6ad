"""The page templates shipped with the agent: one template serves the candidate page and the
download page (``page.candidate`` tells them apart)."""
