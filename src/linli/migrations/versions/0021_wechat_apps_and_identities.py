"""identity: WeChat apps and the openids bound to members

``wechat_apps`` holds each mini program / official account members log in through (its
AppSecret sealed by linli.vault); ``wechat_identities`` binds an (appid, openid) to the
member a phone identifies, which is what JSAPI payment pays as.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 21:56:57.577454
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import linli.db


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wechat_apps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('appid', sa.String(length=32), nullable=False),
    sa.Column('secret_sealed', sa.String(length=512), nullable=False),
    sa.Column('secret_mask', sa.String(length=16), nullable=False),
    sa.Column('created_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_wechat_apps_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_apps')),
    sa.UniqueConstraint('appid', name=op.f('uq_wechat_apps_appid'))
    )
    with op.batch_alter_table('wechat_apps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_apps_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('wechat_identities',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('appid', sa.String(length=32), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('unionid', sa.String(length=64), nullable=True),
    sa.Column('created_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_wechat_identities_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_identities')),
    sa.UniqueConstraint('appid', 'openid', name=op.f('uq_wechat_identities_appid_openid')),
    sa.UniqueConstraint('member_id', 'appid', name=op.f('uq_wechat_identities_member_id_appid'))
    )
    with op.batch_alter_table('wechat_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_identities_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_wechat_identities_unionid'), ['unionid'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('wechat_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_identities_unionid'))
        batch_op.drop_index(batch_op.f('ix_wechat_identities_member_id'))

    op.drop_table('wechat_identities')
    with op.batch_alter_table('wechat_apps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_apps_merchant_id'))

    op.drop_table('wechat_apps')
