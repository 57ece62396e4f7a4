"""Benign synthetic demo data: photo-like images, their edits, and a demo hash list."""
