"""Process-wide settings: the glibc allocator and the cache folders."""
