"""Corporate sponsorships of member projects: levels, sponsors, invoices and their payment.

An issued invoice is a receivable in the books; a payment (by card through Stripe, by
ACH or by cheque) clears it; the sponsor then gets an acknowledgement stating what the
benefits were worth and what part of the payment is deductible (issue 8).
"""
