"""Staff and treasurers: accounts, roles, sign-in, sessions, and the audit log."""
