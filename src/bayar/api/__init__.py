"""The JSON API: parse, call the core, answer. No business rules here."""
