"""Flash sales (秒杀): the optional Redis gate in front of the database (``gate``) and the
queue that answers a rush at once and places its orders behind it (``queue``).

The package's entry is ``configure(redis_client, prefix)``, called once at start-up (None,
or no Redis configured: the database decides alone); ``current()`` is the ``FlashGate`` in
use and ``enabled()`` whether there is one."""

from linli.campaigns.flash_sale.gate import PREFIX, FlashGate, configure, current, enabled

__all__ = ["PREFIX", "FlashGate", "configure", "current", "enabled"]
