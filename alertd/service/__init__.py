"""The shell: the engine that wires the stages, the daemon, the CLI, HTTP, metrics, systemd."""
