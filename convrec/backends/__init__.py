"""Backends behind the Protocols in convrec.protocols; heavy imports stay inside each file."""
