"""The command line: argument parsing, the build, verify and preview commands, and exit handling.

Each command parses its arguments into the objects the library takes (a build job, a scene
spec), calls the library, and turns its errors into one line and an exit status.
"""
