"""Test doubles: fake upstream providers."""
