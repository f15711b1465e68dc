"""Who gave: the name and address given with each gift, and the donor's own.

The donation form finds the donor by the e-mail address typed into it, and anyone can
type anyone's. So what the form records is a claim: the name and postal address stay
with the donation (``Donation.donor_name``, ``donor_address``) and change nothing else
until a payment of it settles. Then :func:`name_gift` fixes them on the gift
(``Gift.donor_name``, ``donor_address``), whose receipts and ledger entries name the
donor so, and makes them the donor's own (``Donor.name``, ``address``). Those are what
speaks of the donor rather than of one gift reads: the public patrons list, the annual
statement, Schedule B, a project's list of donors, the portal's mail.

A renewal of a recurring gift is given with nothing new: it goes by the donor's own
details as they stand when it settles, which a later settled gift of theirs may have
changed. The portal has no page to change them; a settled gift is the only way.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.donations.models import Donation, Donor, Gift


def donor_by_email(session: Session, email: str | None, name: str, address: str | None) -> Donor:
    """The donor with this e-mail address, left as they are; or a new donor with this name
    and address (without an e-mail address, always a new one: a name alone cannot tell
    two donors apart). Flushes nothing."""
    donor = session.scalar(select(Donor).where(Donor.email == email)) if email else None
    if donor is None:
        donor = Donor(ref=f"donor-{secrets.token_hex(6)}", email=email, name=name, address=address)
        session.add(donor)
    return donor


def name_gift(session: Session, donation: Donation) -> tuple[str, str | None]:
    """The name and address of the gift of ``donation`` that is settling now; call it
    before the gift is added.

    The first gift of a donation goes by the details given with the donation, and makes
    them the donor's own (given without an address, the donor keeps the one they had).
    Any later gift, a renewal, goes by the donor's own as they stand.
    """
    donor = donation.donor
    first = session.scalar(select(Gift.id).where(Gift.donation_id == donation.id).limit(1)) is None
    if first:
        donor.name = donation.donor_name
        if donation.donor_address:
            donor.address = donation.donor_address
    return donor.name, donor.address
