"""Stripe's webhook: signed events in, a job queued."""
