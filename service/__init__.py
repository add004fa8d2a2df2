"""mentorflow: the application service (DESIGN §2) — the one place the CLI (workers/cli) and the HTTP API (api/) both
call for commands, reads, reports and audit, so a rule or a message is written once. Takes its parameters; never
reads the settings."""
