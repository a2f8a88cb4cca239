// Filled in by the generator layer.
