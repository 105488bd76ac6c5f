"""A status's name has one home (payments.status_names): every order status has one, and the
shop's chip and the admin's badge say the same word for it, in both languages."""

from __future__ import annotations

import pytest

from bayar import i18n
from bayar.admin import views
from bayar.payments.states import Status
from bayar.payments.status_names import STATUS_NAMES
from bayar.storefront import routes as shop


def test_every_status_has_a_name_of_its_own() -> None:
    assert set(STATUS_NAMES) == set(Status)
    assert len(set(STATUS_NAMES.values())) == len(Status)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_the_shop_and_the_admin_say_the_same_word(language: str) -> None:
    with i18n.use(language):
        chips = shop.status_names()
        badges = {status.value: views.status_name(status.value) for status in Status}

    assert chips == badges
    assert chips["fulfilled"] == {"en": "complete", "id": "selesai"}[language]
