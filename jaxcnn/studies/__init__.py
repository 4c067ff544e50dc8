"""The research studies: many seeds at once, the pooling and seed studies, their statistics
and reports, and the notebooks' printed figures."""
