"""ModelProxy desktop window (PySide6)."""
