"""Due jobs of campaigns, each registered next to the rule it runs: team deadlines
(``group_buy.service``), campaign close and threshold rebates (``closing``), flash-sale
reconciliation (``flash_sale.gate``) and queued flash-sale orders (``flash_sale.queue``)."""

from linli.campaigns import closing  # noqa: F401
from linli.campaigns.flash_sale import gate, queue  # noqa: F401
from linli.campaigns.group_buy import service  # noqa: F401
