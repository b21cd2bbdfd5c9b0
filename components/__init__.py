"""Reusable Pulumi components of the ML platform. Importing a module creates nothing."""
