"""Training: datasets and captions, and (later) the trainers that turn them into models and adapters."""
