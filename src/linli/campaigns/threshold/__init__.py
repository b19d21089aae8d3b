"""Community thresholds (社区成团): progress per community and the tally the close uses
(``service``)."""
