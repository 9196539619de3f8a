"""Checkpoint evaluation: text metrics (``metrics``), model scoring (``scoring``) and the suite (``suite``)."""
