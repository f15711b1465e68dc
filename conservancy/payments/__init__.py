"""Payments: the gateway interface, the Stripe gateway, and Stripe's events."""
