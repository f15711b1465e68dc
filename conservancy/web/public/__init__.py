"""Pages for anyone: the sponsor's home, each project's donation form and thank-you
page, ways to give, company sponsorship sign-up and invoices, the demo's pages."""
