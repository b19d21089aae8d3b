"""Clients of the payment providers' documented HTTP APIs (issue 17), behind the payments and payout ports."""
