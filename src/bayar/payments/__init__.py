"""The core: the order state machine and the one path by which an order becomes paid."""
