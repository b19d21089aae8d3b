"""merchant_id on the merchant-owned rows that lacked it

Purchase counters, refund case lines, offer counters, campaign order lines, entries, team
members and threshold rebates get ``merchant_id`` (NOT NULL, indexed, a foreign key to
merchants like their siblings), so every merchant-owned row carries it and the schema can be
distributed by merchant. Existing rows take their parent's merchant: the column is added
nullable, filled by one portable UPDATE per table (SQLite and PostgreSQL), then made NOT
NULL. The unique constraints stay as they were.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# table -> the parent row its merchant comes from (the table's own name is the outer row).
PARENTS = {
    'purchase_counters': 'SELECT products.merchant_id FROM products WHERE products.id = purchase_counters.product_id',
    'refund_case_lines': 'SELECT refund_cases.merchant_id FROM refund_cases WHERE refund_cases.id = refund_case_lines.case_id',
    'campaign_offer_counters': 'SELECT campaign_offers.merchant_id FROM campaign_offers WHERE campaign_offers.id = campaign_offer_counters.offer_id',
    'campaign_order_lines': 'SELECT campaigns.merchant_id FROM campaigns WHERE campaigns.id = campaign_order_lines.campaign_id',
    'campaign_entries': 'SELECT campaigns.merchant_id FROM campaigns WHERE campaigns.id = campaign_entries.campaign_id',
    'campaign_team_members': 'SELECT campaign_teams.merchant_id FROM campaign_teams WHERE campaign_teams.id = campaign_team_members.team_id',
    'campaign_threshold_rebates': 'SELECT campaigns.merchant_id FROM campaigns WHERE campaigns.id = campaign_threshold_rebates.campaign_id',
}


def upgrade() -> None:
    for table, parent in PARENTS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('merchant_id', BigId, nullable=True))
        op.execute(f'UPDATE {table} SET merchant_id = ({parent})')
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('merchant_id', existing_type=BigId, nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_merchant_id'), ['merchant_id'], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_merchant_id_merchants'), 'merchants', ['merchant_id'], ['id'])


def downgrade() -> None:
    for table in reversed(PARENTS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_merchant_id_merchants'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_merchant_id'))
            batch_op.drop_column('merchant_id')
