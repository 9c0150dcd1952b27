"""Training of the offline image–text model on open_clip."""
