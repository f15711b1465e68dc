"""Staff and the sponsor's admins: signing in, users, the audit log, and the admin
pages by subject (money, sponsorships, reports, reconciliation, files)."""
