"""Group-buy teams (拼团): the team's pure rules (``rules``), seats paid, teams succeeding or
failing at their deadline (``service``), the team endpoint (``api``) and page (``pages``)."""
