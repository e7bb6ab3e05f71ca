"""Configuration: typed schemas, value checks, instantiation, command-line helpers."""
