"""The training, evaluation and transcription engine."""
