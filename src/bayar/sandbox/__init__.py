"""An offline emulator of the Midtrans HTTP API, built from the gateway's documentation.

It imports nothing of bayar but `bayar.config`, so it stays an independent check on our adapters.
"""

from bayar.sandbox.app import Sandbox, create_sandbox_app

__all__ = ["Sandbox", "create_sandbox_app"]
