from destination_dust.run import run

if __name__ == "__main__":
    run()
