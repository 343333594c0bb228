"""Test support for provider authors: `nbctl_cloud.testing.conformance` states the provider
contract as pytest tests. Imported only by test suites (it needs pytest)."""
