"""Test and benchmark helpers shipped with the package (mock providers); never used by the service itself."""
