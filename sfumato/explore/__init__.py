"""Exploring around a recipe: X/Y/Z grids and latent walks, planned as Recipes and assembled into sheets.

Planning (`axes`, `grid`, `walk`) and assembling (`grid_image`, `animation`) are torch-free; `run` makes the
planned recipes through whatever the caller passes in (the Studio directly, or the job queue) and saves them.
"""
