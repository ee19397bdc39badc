"""Figures and reports built from tidy result tables."""
