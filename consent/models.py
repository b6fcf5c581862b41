"""Models of the consent app."""
