"""Real small numpy training loops with fault knobs (loops), logging them to MLflow (record), the demo
experiment (runs) and the demo sweeps for compare (sweeps)."""
