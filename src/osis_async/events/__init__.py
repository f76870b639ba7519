"""Task changes pushed to the browser: who changed (sources), who listens (hub), the stream."""
