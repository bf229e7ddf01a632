"""`python main.py spec|check|discover|read ...`, as Airbyte and the shell run the connector."""

from source_planhat.run import run

if __name__ == "__main__":
    run()
