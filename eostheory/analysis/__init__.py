"""Reports and plots (the only place that imports matplotlib)."""
