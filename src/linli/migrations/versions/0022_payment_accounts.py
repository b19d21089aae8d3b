"""payments: provider accounts and the payment method

``payment_accounts`` holds the platform's and each merchant's WeChat Pay / Alipay account
(public fields in columns, secrets only sealed by linli.vault, their masks for display);
``payments.method`` says how the buyer pays at the provider (None: the sandbox).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 22:03:40.241997
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import linli.db


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payment_accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('provider', sa.String(length=16), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('mchid', sa.String(length=32), nullable=False),
    sa.Column('appid', sa.String(length=32), nullable=False),
    sa.Column('serial_no', sa.String(length=64), nullable=False),
    sa.Column('public_key_id', sa.String(length=64), nullable=False),
    sa.Column('sub_mchid', sa.String(length=32), nullable=False),
    sa.Column('sub_appid', sa.String(length=32), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('secrets_sealed', sa.Text(), nullable=False),
    sa.Column('masks', sa.JSON(), nullable=False),
    sa.Column('created_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("mode IN ('direct', 'partner')", name=op.f('ck_payment_accounts_payment_account_mode')),
    sa.CheckConstraint("provider IN ('wechatpay', 'alipay')", name=op.f('ck_payment_accounts_payment_account_provider')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_payment_accounts_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_accounts')),
    sa.UniqueConstraint('merchant_id', 'provider', name=op.f('uq_payment_accounts_merchant_id_provider'))
    )
    with op.batch_alter_table('payment_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_accounts_app_id'), ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_accounts_public_key_id'), ['public_key_id'], unique=False)
        batch_op.create_index('uq_payment_accounts_platform', ['provider'], unique=True, sqlite_where=sa.text('merchant_id IS NULL'), postgresql_where=sa.text('merchant_id IS NULL'))

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method', sa.String(length=16), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('method')

    with op.batch_alter_table('payment_accounts', schema=None) as batch_op:
        batch_op.drop_index('uq_payment_accounts_platform', sqlite_where=sa.text('merchant_id IS NULL'), postgresql_where=sa.text('merchant_id IS NULL'))
        batch_op.drop_index(batch_op.f('ix_payment_accounts_public_key_id'))
        batch_op.drop_index(batch_op.f('ix_payment_accounts_app_id'))

    op.drop_table('payment_accounts')
