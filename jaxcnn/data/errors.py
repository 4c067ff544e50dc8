"""The one exception type of the data layer."""


class DataError(Exception):
    """A data file or directory is missing, truncated, corrupt or not the expected data set.

    The message names the file, says what is wrong and what to do about it. Bad arguments
    (an unknown data set name, split or source) raise ``ValueError`` instead.
    """
