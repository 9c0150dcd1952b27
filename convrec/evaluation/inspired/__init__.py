"""The INSPIRED suite: real recorded dialogues, the recommender's next movie as the target."""
