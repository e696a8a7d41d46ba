"""The operator's files, read once into the domain's values; errors as file:line:col."""
