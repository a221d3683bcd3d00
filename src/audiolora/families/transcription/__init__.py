"""Transcription family: stem-specialised note transcription on Basic Pitch (issue 7)."""
