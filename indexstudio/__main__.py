from indexstudio.cli import run

run()
