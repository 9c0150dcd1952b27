"""The scripted suite: hand-written dialogues (eval/dialogues) with per-turn expectations."""
