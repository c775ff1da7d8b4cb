"""`python -m pourtier.main` starts the API, like `pourtier serve`."""

from pourtier.cli import app


def main() -> None:
    app(["serve"])


if __name__ == "__main__":
    main()
