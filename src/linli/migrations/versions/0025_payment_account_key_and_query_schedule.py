"""payment account key and query schedule

payments.account_key (the account that took a real provider's payment: refunds, queries and
notifications go to it, or are refused; NULL for the sandbox and the payments before, which
use the merchant's current account), payments.expires_at (when the provider stops taking it)
and payments.next_check_at / payment_refunds.next_check_at (when the query job asks the
provider next; a refund with none is due a minute after it was made). Payments at a real
provider still pending or closed are due at once, so the job asks them once more under the
new schedule.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 22:53:22.907299
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import linli.db


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_key', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('expires_at', linli.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_check_at', linli.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_payments_next_check_at'), ['next_check_at'], unique=False)
    with op.batch_alter_table('payment_refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_check_at', linli.db.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE payments SET next_check_at = created_at WHERE gateway IN ('wechatpay', 'alipay') AND status IN ('pending', 'closed')")


def downgrade() -> None:
    with op.batch_alter_table('payment_refunds', schema=None) as batch_op:
        batch_op.drop_column('next_check_at')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_next_check_at'))
        batch_op.drop_column('next_check_at')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('account_key')
