"""Textual-inversion training: new token vectors learnt against a frozen model, saved in A1111's format."""
