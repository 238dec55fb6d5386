"""The data layer: corpora, utterance indexes and the samplers that batch them."""
