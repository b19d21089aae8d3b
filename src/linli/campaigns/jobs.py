"""Due jobs of campaigns, each registered next to the rule it runs: team deadlines
(``teams``), campaign close and threshold rebates (``closing``), flash-sale reconciliation
(``flash``)."""

from linli.campaigns import closing  # noqa: F401
from linli.campaigns.flash_sale import gate  # noqa: F401
from linli.campaigns.group_buy import service  # noqa: F401
