"""The values and codes every stage shares. Imports nothing else from alertd."""
