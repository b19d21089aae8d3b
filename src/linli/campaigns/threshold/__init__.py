"""Community thresholds (社区成团): progress per community and the tally (``service``), what
the close does to a community's orders (``rules``, pure) and settling them (``settlement``)."""
