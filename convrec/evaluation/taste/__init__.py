"""The taste panel: realistic requests, each with a property every top-5 item should have."""
