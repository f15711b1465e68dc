"""Money a project pays out of its fund: payees, categories and their invoices."""
