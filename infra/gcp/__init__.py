"""The platform on Google Cloud: one component per job, composed by `GcpPlatform`."""
