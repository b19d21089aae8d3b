"""Due jobs of campaigns, each registered next to the rule it runs: team deadlines
(``teams``), campaign close and threshold rebates (``closing``), flash-sale reconciliation
(``flash``)."""

from linli.campaigns import closing, flash, teams  # noqa: F401
