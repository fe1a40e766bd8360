"""The SLOs: the catalogue, threshold lines and their evaluation against a summary."""
