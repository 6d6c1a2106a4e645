"""Classify: sequence classification and fill-mask, input files and exports."""
