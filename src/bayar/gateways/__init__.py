"""Payment gateway adapters. Each speaks one gateway's wire format and exposes `base.Gateway`."""
