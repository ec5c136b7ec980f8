"""Taxonomies: read from JSON or CSV, created as a project's next version, then changed.

``parsing`` turns a file into a validated plan of nodes, ``creation`` stores a plan as
the project's next version, and ``versions`` adds, renames, merges and splits classes
while moving the answers along.
"""
