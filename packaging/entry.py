"""PyInstaller's entry script: the packaged binary is the `modelproxy` command."""

from app.main import main

if __name__ == "__main__":
    main()
