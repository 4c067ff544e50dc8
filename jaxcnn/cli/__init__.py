"""The command lines, as importable modules; ``scripts/*.py`` call their ``main``."""
