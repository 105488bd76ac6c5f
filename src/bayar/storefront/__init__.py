"""The online shop at `/`: catalog, cart, checkout through snap.js, order pages."""
