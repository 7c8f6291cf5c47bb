"""Conformance case handlers for one IndexTTS version (one module per pipeline stage)."""
