"""stored value: principal held back for spent bonus, and why a principal refund was made

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:20:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reward_balances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sv_held_back', sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('sv_refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_back', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('held_back_payments', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('held_back_paid', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('reason', sa.String(length=16), nullable=False, server_default='requested'))


def downgrade() -> None:
    with op.batch_alter_table('sv_refunds', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('held_back_paid')
        batch_op.drop_column('held_back_payments')
        batch_op.drop_column('held_back')
    with op.batch_alter_table('reward_balances', schema=None) as batch_op:
        batch_op.drop_column('sv_held_back')
