"""Prompts: the A1111 and Compel grammars, wildcards, themes, and encoding to conditioning (issue #5)."""
