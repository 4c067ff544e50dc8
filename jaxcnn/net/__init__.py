"""The network: layers, the five models, their registry, weight conversion, summaries."""
