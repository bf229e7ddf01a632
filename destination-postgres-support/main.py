from destination_postgres_support.run import run

if __name__ == "__main__":
    run()
