"""The public JSON API and the donate button."""
