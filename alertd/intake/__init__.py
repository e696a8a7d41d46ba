"""Stage 1, intake: fetch a feed, read its format, extract indicators: feeds in, observations out."""
