"""`python -m clawkeeper`: the same CLI as the `clawkeeper` console script."""

from clawkeeper.cli.main import run

if __name__ == "__main__":
    run()
