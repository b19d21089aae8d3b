"""Clients of the real payment providers' documented HTTP APIs (WeChat Pay, Alipay)."""
