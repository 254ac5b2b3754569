"""recovery/stores"""
