"""AWS components of the platform: one ComponentResource per job."""
