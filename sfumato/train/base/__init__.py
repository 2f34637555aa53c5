"""The embedded model: its architecture, caption encoder, training loop, packaging and evaluation."""
