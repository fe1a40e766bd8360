"""Pulumi dynamic providers: thin shells over pure, importable logic modules."""
