"""Dialogs: connecting and logging in, first-run setup, adding and editing resources."""
