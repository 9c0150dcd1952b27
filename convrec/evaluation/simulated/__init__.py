"""The simulated-user suite: users with hidden targets talk to each system for a few turns."""
