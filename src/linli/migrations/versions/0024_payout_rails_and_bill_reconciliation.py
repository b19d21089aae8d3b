"""payouts by rail, payout destinations, bill reconciliation

withdrawals.rail (who pays it: sandbox | wechatpay | alipay; NULL for the ones before, the
sandbox) and withdrawals.confirm (what a WeChat transfer waiting for the sharer needs on
their page); payout_destinations (a sharer's choice of WeChat or Alipay, the Alipay
account sealed); bill_days and bill_differences (the daily bill reconciliation, one row
per difference, unique per day, subject, reference and kind).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 22:35:09.031872
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import linli.db


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bill_days',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('bill_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('checked_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_bill_days_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bill_days')),
    sa.UniqueConstraint('merchant_id', 'provider', 'bill_date', name=op.f('uq_bill_days_merchant_id_provider_bill_date'))
    )
    with op.batch_alter_table('bill_days', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bill_days_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('bill_differences',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('bill_date', sa.Date(), nullable=False),
    sa.Column('subject', sa.String(length=16), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=True),
    sa.Column('provider_amount', sa.Integer(), nullable=True),
    sa.Column('linli_amount', sa.Integer(), nullable=True),
    sa.Column('provider_status', sa.String(length=32), nullable=True),
    sa.Column('linli_status', sa.String(length=32), nullable=True),
    sa.Column('found_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', linli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_bill_differences_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['resolved_by'], ['members.id'], name=op.f('fk_bill_differences_resolved_by_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bill_differences')),
    sa.UniqueConstraint('merchant_id', 'provider', 'bill_date', 'subject', 'reference', 'kind', name='uq_bill_differences_key')
    )
    with op.batch_alter_table('bill_differences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bill_differences_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('payout_destinations',
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('prefer', sa.String(length=16), nullable=False),
    sa.Column('alipay_sealed', sa.Text(), nullable=True),
    sa.Column('alipay_mask', sa.String(length=64), nullable=False),
    sa.Column('name_mask', sa.String(length=32), nullable=False),
    sa.Column('updated_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_payout_destinations_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_payout_destinations'))
    )
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rail', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('confirm', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.drop_column('confirm')
        batch_op.drop_column('rail')

    op.drop_table('payout_destinations')
    with op.batch_alter_table('bill_differences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bill_differences_merchant_id'))

    op.drop_table('bill_differences')
    with op.batch_alter_table('bill_days', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bill_days_merchant_id'))

    op.drop_table('bill_days')
