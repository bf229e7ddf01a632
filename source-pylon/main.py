from source_pylon.run import run

if __name__ == "__main__":
    run()
