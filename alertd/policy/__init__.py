"""Stage 3, policy: which findings become alerts, how severe, for whom and when."""
