"""What a page says in a language, for tests that run a flow in Indonesian and in English: the
catalog's translation of a message (the one the page renders), placeholders filled in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bayar import i18n

# The browser locale whose Accept-Language picks each language.
LOCALES = {"id": "id-ID", "en": "en-US"}


def words(language: str) -> Callable[..., str]:
    """`say = words("id")`; `say("Log in")` → "Masuk"; `say("Only %(n)s left", n=2)`,
    `say("Pay {amount}", amount="Rp 7.000")`."""

    def say(message: str, **values: Any) -> str:
        with i18n.use(language):
            text = i18n.gettext(message, **values)  # %(name)s: templates and Python
        for name, value in values.items():  # {name}: the pages' scripts
            text = text.replace(f"{{{name}}}", str(value))
        return text

    return say
