"""A Pipes child that opens Pipes and exits 0 without reporting a checkpoint (the step must fail)."""

from dagster_pipes import open_dagster_pipes

if __name__ == "__main__":
    with open_dagster_pipes() as pipes:
        pipes.log.info("did nothing")
