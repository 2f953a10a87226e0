"""Shared fakes and fixtures for the tests: tiny phantom manifests, fake layouts, fake cells."""
