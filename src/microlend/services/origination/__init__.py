"""Origination: applications, real-time risk checks, decisions, reviews and step-up verification."""
