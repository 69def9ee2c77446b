"""GitHub: events, API client, the Action driver, sanitizing."""
