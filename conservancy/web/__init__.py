"""HTTP adapters: one blueprint per audience. Views parse, authorize, call a service, render."""
