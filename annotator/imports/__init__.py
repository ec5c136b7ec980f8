"""Image imports from a folder or a zip, run by the command line or by the worker.

Everything here treats its input as hostile: images are recognised by their bytes, their
size is read from the header before anything is decoded, zip entries are checked before
they are read, and one bad file is reported and skipped while the rest import.

``images`` checks one file, ``archive`` lists and reads the files of a folder or zip, and
``job`` runs an import and records it in an ``ImportJob``.
"""
