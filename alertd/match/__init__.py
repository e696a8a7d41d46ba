"""Stage 2, match: observations against the registry's index; findings out."""
