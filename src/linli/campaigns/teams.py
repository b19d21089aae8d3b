"""Group-buy teams (拼团): paying fills a seat; a full team succeeds and its orders go on;
a team short at its deadline fails and every paid order in it is refunded in full."""

from __future__ import annotations
