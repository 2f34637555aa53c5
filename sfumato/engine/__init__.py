"""The engine: Recipe -> Picture on diffusers (sampler table, device and memory policy, VAE decoding).

The only layer, with `models/`, `prompt/` and `train/`, that imports torch and diffusers.
"""
