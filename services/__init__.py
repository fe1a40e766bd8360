"""Local servers the project starts on loopback for its scripts, tests and the local stack."""
