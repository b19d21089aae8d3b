"""incentives: referral programmes, referrals, caps, milestones, rewards

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:18:43
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import linli.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('referral_programmes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('trigger', sa.String(length=24), nullable=False),
    sa.Column('starts_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', linli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('min_paid', sa.Integer(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('monthly_cap', sa.Integer(), nullable=False),
    sa.Column('inviter_reward', sa.JSON(), nullable=True),
    sa.Column('invitee_reward', sa.JSON(), nullable=True),
    sa.Column('milestones', sa.JSON(), nullable=False),
    sa.Column('created_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_referral_programmes_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral_programmes'))
    )
    with op.batch_alter_table('referral_programmes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_programmes_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('programme_caps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('programme_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('inviter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('qty >= 0', name=op.f('ck_programme_caps_cap_not_negative')),
    sa.ForeignKeyConstraint(['inviter_id'], ['members.id'], name=op.f('fk_programme_caps_inviter_id_members')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_programme_caps_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['programme_id'], ['referral_programmes.id'], name=op.f('fk_programme_caps_programme_id_referral_programmes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_caps')),
    sa.UniqueConstraint('programme_id', 'inviter_id', 'month', name=op.f('uq_programme_caps_programme_id_inviter_id_month'))
    )
    op.create_table('programme_inviters',
    sa.Column('programme_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('inviter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('granted', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['inviter_id'], ['members.id'], name=op.f('fk_programme_inviters_inviter_id_members')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_programme_inviters_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['programme_id'], ['referral_programmes.id'], name=op.f('fk_programme_inviters_programme_id_referral_programmes')),
    sa.PrimaryKeyConstraint('programme_id', 'inviter_id', name=op.f('pk_programme_inviters'))
    )
    op.create_table('programme_referrals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('programme_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('inviter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('invitee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('paid', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('void_reason', sa.String(length=16), nullable=True),
    sa.Column('bound_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('granted_at', linli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('voided_at', linli.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invitee_id'], ['members.id'], name=op.f('fk_programme_referrals_invitee_id_members')),
    sa.ForeignKeyConstraint(['inviter_id'], ['members.id'], name=op.f('fk_programme_referrals_inviter_id_members')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_programme_referrals_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['programme_id'], ['referral_programmes.id'], name=op.f('fk_programme_referrals_programme_id_referral_programmes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_referrals')),
    sa.UniqueConstraint('programme_id', 'invitee_id', name=op.f('uq_programme_referrals_programme_id_invitee_id'))
    )
    with op.batch_alter_table('programme_referrals', schema=None) as batch_op:
        batch_op.create_index('ix_programme_referrals_inviter', ['merchant_id', 'inviter_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_programme_referrals_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_programme_referrals_programme_id'), ['programme_id'], unique=False)

    op.create_table('programme_milestones',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('programme_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('inviter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reached_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inviter_id'], ['members.id'], name=op.f('fk_programme_milestones_inviter_id_members')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_programme_milestones_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['programme_id'], ['referral_programmes.id'], name=op.f('fk_programme_milestones_programme_id_referral_programmes')),
    sa.ForeignKeyConstraint(['referral_id'], ['programme_referrals.id'], name=op.f('fk_programme_milestones_referral_id_programme_referrals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_milestones')),
    sa.UniqueConstraint('programme_id', 'inviter_id', 'count', name=op.f('uq_programme_milestones_programme_id_inviter_id_count'))
    )
    op.create_table('programme_rewards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('programme_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('referral_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('milestone_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('asked', sa.Integer(), nullable=False),
    sa.Column('granted', sa.Integer(), nullable=False),
    sa.Column('coupon_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('created_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_programme_rewards_member_id_members')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_programme_rewards_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['milestone_id'], ['programme_milestones.id'], name=op.f('fk_programme_rewards_milestone_id_programme_milestones')),
    sa.ForeignKeyConstraint(['programme_id'], ['referral_programmes.id'], name=op.f('fk_programme_rewards_programme_id_referral_programmes')),
    sa.ForeignKeyConstraint(['referral_id'], ['programme_referrals.id'], name=op.f('fk_programme_rewards_referral_id_programme_referrals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_rewards')),
    sa.UniqueConstraint('key', name=op.f('uq_programme_rewards_key'))
    )
    with op.batch_alter_table('programme_rewards', schema=None) as batch_op:
        batch_op.create_index('ix_programme_rewards_member', ['merchant_id', 'member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_programme_rewards_programme_id'), ['programme_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_programme_rewards_referral_id'), ['referral_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('programme_rewards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_rewards_referral_id'))
        batch_op.drop_index(batch_op.f('ix_programme_rewards_programme_id'))
        batch_op.drop_index('ix_programme_rewards_member')

    op.drop_table('programme_rewards')
    op.drop_table('programme_milestones')
    with op.batch_alter_table('programme_referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_programme_referrals_programme_id'))
        batch_op.drop_index(batch_op.f('ix_programme_referrals_order_id'))
        batch_op.drop_index('ix_programme_referrals_inviter')

    op.drop_table('programme_referrals')
    op.drop_table('programme_inviters')
    op.drop_table('programme_caps')
    with op.batch_alter_table('referral_programmes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_programmes_merchant_id'))

    op.drop_table('referral_programmes')
