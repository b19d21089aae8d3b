"""stored value: what has left each top-up, principal held back for spent bonus, payouts to
top-up payments made after the deciding transaction, and why a principal refund was made

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:20:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import linli.db


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('reward_balances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sv_held_back', sa.BigInteger(), nullable=False, server_default='0'))
    with op.batch_alter_table('sv_refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_back', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('reason', sa.String(length=16), nullable=False, server_default='requested'))
    with op.batch_alter_table('topups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('principal_out', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('held_back', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('bonus_out', sa.Integer(), nullable=False, server_default='0'))
    _principal_out_so_far()
    op.create_table('sv_payouts',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('merchant_id', BigId, nullable=False),
    sa.Column('member_id', BigId, nullable=False),
    sa.Column('topup_id', BigId, nullable=False),
    sa.Column('payment_id', BigId, nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('refund_id', BigId, nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', linli.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', linli.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paid_by', BigId, nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['paid_by'], ['members.id'], name=op.f('fk_sv_payouts_paid_by_members')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_sv_payouts_member_id_members')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_sv_payouts_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['refund_id'], ['sv_refunds.id'], name=op.f('fk_sv_payouts_refund_id_sv_refunds')),
    sa.ForeignKeyConstraint(['topup_id'], ['topups.id'], name=op.f('fk_sv_payouts_topup_id_topups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sv_payouts'))
    )
    with op.batch_alter_table('sv_payouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sv_payouts_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sv_payouts_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sv_payouts_topup_id'), ['topup_id'], unique=False)


def _principal_out_so_far() -> None:
    """Until now a top-up's principal left it by refunds of its payment, and by principal a
    refund kept back for spent bonus (booked to sv_bonus_granted: kept by the shop, as the
    rules then said), which the refund took from its oldest payments. Both are out of the
    top-up now, and its bonus forfeited in their share."""
    conn = op.get_bind()
    topups = conn.execute(sa.text(
        "SELECT t.id, t.merchant_id, t.member_id, t.pay, t.bonus, p.refunded FROM topups t JOIN payments p ON p.id = t.payment_id WHERE t.status = 'paid' ORDER BY t.id"
    )).fetchall()
    out = {row.id: row.refunded for row in topups}
    kept = conn.execute(sa.text(
        "SELECT r.merchant_id, r.member_id, SUM(e.amount) AS kept FROM sv_refunds r"
        " JOIN ledger_transfers lt ON lt.key = 'sv:principal_refund:' || CAST(r.id AS VARCHAR(20))"
        " JOIN ledger_entries e ON e.transfer_id = lt.id AND e.account = 'sv_bonus_granted'"
        " GROUP BY r.merchant_id, r.member_id"
    )).fetchall()
    for k in kept:
        left = int(k.kept or 0)
        for row in topups:  # oldest first
            if left <= 0:
                break
            if (row.merchant_id, row.member_id) == (k.merchant_id, k.member_id):
                take = min(left, row.pay - out[row.id])
                out[row.id] += take
                left -= take
    for row in topups:
        bonus_out = min(row.bonus, -(-row.bonus * out[row.id] // row.pay)) if out[row.id] and row.bonus else 0
        conn.execute(sa.text("UPDATE topups SET principal_out = :o, bonus_out = :b WHERE id = :i"), {"o": out[row.id], "b": bonus_out, "i": row.id})


def downgrade() -> None:
    with op.batch_alter_table('sv_payouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sv_payouts_topup_id'))
        batch_op.drop_index(batch_op.f('ix_sv_payouts_merchant_id'))
        batch_op.drop_index(batch_op.f('ix_sv_payouts_member_id'))
    op.drop_table('sv_payouts')
    with op.batch_alter_table('topups', schema=None) as batch_op:
        batch_op.drop_column('bonus_out')
        batch_op.drop_column('held_back')
        batch_op.drop_column('principal_out')
    with op.batch_alter_table('sv_refunds', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('held_back')
    with op.batch_alter_table('reward_balances', schema=None) as batch_op:
        batch_op.drop_column('sv_held_back')
