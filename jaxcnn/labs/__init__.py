"""Teaching tools for the labs: the student versions of the notebooks."""
