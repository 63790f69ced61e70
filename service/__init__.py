"""FastAPI backend of the EMG Analyzer: wraps emg_core for the therapists' frontend."""
