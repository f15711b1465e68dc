"""Tribute gifts: a card, by e-mail, to the person a gift's dedication honours.

The donor names them and their address on the donation form (donations.service checks
them). The card is queued in the transaction that settles the gift's first payment, once
per donation (its mail key), so a recurring gift sends one card, not one a month. It names
the donor, the project and the dedication, never the amount: what was given is between the
donor and the sponsor. The honoree's name and address are used for nothing else.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from conservancy.donations.models import Donation
from conservancy.mail.outbox import queue


def queue_card(session: Session, donation: Donation) -> None:
    """The card, if the donor asked for one (a no-op the second time: the key is taken)."""
    if not donation.honoree_email or not donation.dedication:
        return
    honoree = donation.honoree_name or ""
    project = donation.project.name
    queue(
        session,
        key=f"tribute-card-{donation.id}",
        to_address=donation.honoree_email,
        to_name=honoree,
        subject=f"A gift to {project}, dedicated to you",
        body=(
            f"Dear {honoree},\n\n"
            f"{donation.donor_name} has made a gift to {project} with this dedication:\n\n"
            f"    {donation.dedication}\n\n"
            f"{donation.donor_name} asked us to let you know. Nothing is asked of you, and "
            "we will not write to you again about it.\n"
        ),
    )
