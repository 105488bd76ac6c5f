"""The kiosk edge: the kiosk page and its WebSocket (protocol in PROTOCOL.md)."""
