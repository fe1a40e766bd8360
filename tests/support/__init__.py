"""Test doubles of the project's narrow interfaces, shared by the tests and kept out of production code."""
