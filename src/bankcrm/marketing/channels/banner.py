"""The customer 360 banner: nothing leaves the bank. The message counts as sent once the
sender has checked it (do-not-contact, deceased); from then on the customer's 360 page shows
the variant's banner to the staff who serve the customer in the branch."""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import Delivery


class BannerChannel:
    code = "banner"

    def deliver(self, message: Any, *, now: dt.datetime) -> Delivery:
        return Delivery()

    def close(self) -> None:
        return None
