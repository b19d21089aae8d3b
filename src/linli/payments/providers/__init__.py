"""Clients of the real payment providers' documented HTTP APIs (WeChat Pay API v3, Alipay), for the payments and payout ports (issue 17)."""
