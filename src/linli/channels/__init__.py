"""Outbound message channels (kernel): the SMS port, its adapters and its outbox.

Nothing here imports a domain; domains call ``linli.channels.outbox.enqueue``.
"""
