"""identity: one WeChat app of each kind per merchant, and one for the platform

Two partial unique indexes (a NULL merchant_id, the platform's, is distinct from every
other in a plain unique index), so two concurrent settings of the same app cannot leave two
rows for one merchant and kind.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 22:04:53.797121
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('wechat_apps', schema=None) as batch_op:
        batch_op.create_index('uq_wechat_apps_merchant_kind', ['merchant_id', 'kind'], unique=True, postgresql_where=sa.text('merchant_id IS NOT NULL'), sqlite_where=sa.text('merchant_id IS NOT NULL'))
        batch_op.create_index('uq_wechat_apps_platform_kind', ['kind'], unique=True, postgresql_where=sa.text('merchant_id IS NULL'), sqlite_where=sa.text('merchant_id IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('wechat_apps', schema=None) as batch_op:
        batch_op.drop_index('uq_wechat_apps_platform_kind')
        batch_op.drop_index('uq_wechat_apps_merchant_kind')
