"""The page at `/` that says what is running and where."""
