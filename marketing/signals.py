"""Marketing's news for settlement (above it), sent on commit. Settlement listens (settlement/apps.py).

* `group_completed(campaign_id, group_id, order_refs)`: the group filled; deliver these paid orders.
* `group_failed(campaign_id, group_id, order_refs)`: time ran out unfilled; refund these orders in full
  (settlement refunds each through the ledger and the payment gateway; an order already refunded is skipped).
  The refund job (marketing.tasks.groups_refund_due) sends it again until every member is refunded.
* `free_codes_wanted(campaign_id, issuance_recipient_id, sku_id, quantity, phone, distributor_id)`: a
  targeted issuance gives codes away; settlement places a zero-price order (the list price booked as
  marketing expense) and answers with `marketing.services.issuance.recipient_order_set`.
"""

from django.dispatch import Signal

group_completed = Signal()
group_failed = Signal()
free_codes_wanted = Signal()
