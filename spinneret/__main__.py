from spinneret.cli import run

run()
