"""incentives: invitee turns, binding history, reward failure, pending index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 15:09:05
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import linli.db


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incentive_bindings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('invitee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('inviter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bound_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['invitee_id'], ['members.id'], name=op.f('fk_incentive_bindings_invitee_id_members')),
    sa.ForeignKeyConstraint(['inviter_id'], ['members.id'], name=op.f('fk_incentive_bindings_inviter_id_members')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_incentive_bindings_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incentive_bindings')),
    sa.UniqueConstraint('event_id', name=op.f('uq_incentive_bindings_event_id'))
    )
    with op.batch_alter_table('incentive_bindings', schema=None) as batch_op:
        batch_op.create_index('ix_incentive_bindings_invitee', ['merchant_id', 'invitee_id', 'bound_at'], unique=False)

    op.create_table('incentive_invitees',
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('invitee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['invitee_id'], ['members.id'], name=op.f('fk_incentive_invitees_invitee_id_members')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_incentive_invitees_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('merchant_id', 'invitee_id', name=op.f('pk_incentive_invitees'))
    )
    with op.batch_alter_table('programme_referrals', schema=None) as batch_op:
        batch_op.create_index('ix_programme_referrals_status', ['status', 'id'], unique=False)

    with op.batch_alter_table('programme_rewards', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('programme_rewards', schema=None) as batch_op:
        batch_op.drop_column('failure')

    with op.batch_alter_table('programme_referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_programme_referrals_status')

    op.drop_table('incentive_invitees')
    with op.batch_alter_table('incentive_bindings', schema=None) as batch_op:
        batch_op.drop_index('ix_incentive_bindings_invitee')

    op.drop_table('incentive_bindings')
