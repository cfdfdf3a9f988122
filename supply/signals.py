"""Supply's news for the apps above it (settlement moves the money).

`topup_finished` is sent on commit with kwargs: reference, status ("success" | "failed" | "partial"),
delivered_value, face_value, cost, upstream_id. FAILED goes out when the chain is exhausted under the
REFUND policy or when operations refund a held top-up; PARTIAL carries the delivered value so the
difference can be refunded.
"""

from django.dispatch import Signal

topup_finished = Signal()
