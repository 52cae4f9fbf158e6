"""Walking network: readers, CSR graph, snapping."""
