"""15-minute coverage: reachability, isochrones, statistics, siting."""
