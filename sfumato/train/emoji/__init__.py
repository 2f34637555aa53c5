"""Emoji datasets for sfumato's embedded model: permissively licensed, labelled emoji pictures from npm."""
