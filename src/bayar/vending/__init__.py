"""Vending machines: their registry and slots, and the one dispense of each paid kiosk order."""
