"""Analytics: rollups kept from events and the dashboards that read them (RULES.md "Analytics")."""
