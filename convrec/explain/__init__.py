"""Stage 7: an explanation per recommended item (links to what the user said, true by
construction; optionally the LLM's sentence) and the independent checks of every claim."""
