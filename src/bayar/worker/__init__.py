"""Background jobs: reconciliation of open orders with the gateway, and their expiry."""
