"""Training datasets: image folders with `.txt` captions (kohya's `N_class` folders too), checks, buckets, caches."""
