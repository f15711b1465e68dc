"""The donor portal: sign-in by e-mailed one-time link, and what a donor may see and change."""
