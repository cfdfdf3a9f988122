"""Posting to the ledger. The only writer of Account.balance and Entry rows.

`transfers_post` posts the transfers of one event together (an order's sale, cost of goods and
commission): on PostgreSQL in three statements whatever their number, with every guarantee of a
single posting kept:

1. one `UPDATE settlement_account … FROM (VALUES …)` that first locks every account of the batch in
   id order (`FOR UPDATE` in a materialised CTE, so two batches never wait on each other crosswise),
   checks each new balance against the account's floor and ceiling on the locked rows and checks
   that no transfer key of the batch exists, and only then moves the balances: all of them, or none.
   No row changes when an account would pass its limit (the wallet's floor is minus its credit
   limit); `InsufficientFunds` / `LimitBreached` is then raised with nothing written. The check
   constraints stay behind it as the database's own guard;
2. one multi-row `INSERT` of the transfers (`ON CONFLICT (key) DO NOTHING`): a transfer whose key a
   concurrent transaction committed first is not posted twice; its balance moves are taken back and
   the first transfer is returned, as a retry gets it;
3. one bulk `INSERT` of the entries, each with the account's balance after it.

Entries and transfers stay append-only (a PostgreSQL trigger refuses UPDATE and DELETE).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from settlement.errors import InsufficientFunds, LimitBreached, Unbalanced
from settlement.models import Account, Entry, Transfer, Wallet
from voucherhub.core import prepared
from voucherhub.core.money import ZERO, money

Kind = Account.Kind


@dataclass(frozen=True)
class Line:
    account: Account
    amount: Decimal


@dataclass(frozen=True)
class Posting:
    """One transfer to post: balanced lines; with `key`, posted at most once."""

    kind: str
    lines: Sequence[Line | tuple[Account, Decimal]]
    reference: str = ""
    memo: str = ""
    order: object = None
    actor: object = None
    key: str | None = None
    reverses: Transfer | None = None


def platform_account(kind: str, currency: str | None = None) -> Account:
    currency = currency or settings.DEFAULT_CURRENCY
    account = Account.objects.filter(wallet__isnull=True, kind=kind, currency=currency).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return Account.objects.create(kind=kind, currency=currency)
    except IntegrityError:
        return Account.objects.get(wallet__isnull=True, kind=kind, currency=currency)


def _wallet_floor(wallet: Wallet, kind: str) -> tuple[Decimal | None, Decimal | None]:
    if kind == Kind.WALLET:
        return -wallet.credit_limit, None
    if kind in (Kind.COMMISSION_FROZEN, Kind.COMMISSION_AVAILABLE, Kind.COMMISSION_WITHDRAWING):
        return ZERO, None
    if kind == Kind.COMMISSION_DEBT:  # what the distributor owes: zero or below
        return None, ZERO
    return None, None


def wallet_accounts_ensure(wallet: Wallet) -> dict[str, Account]:
    accounts = {a.kind: a for a in Account.objects.filter(wallet=wallet, currency=wallet.currency)}
    for kind in Account.WALLET_KINDS:
        if kind not in accounts:
            low, high = _wallet_floor(wallet, kind)
            try:
                with transaction.atomic():
                    accounts[kind] = Account.objects.create(
                        wallet=wallet, kind=kind, currency=wallet.currency, min_balance=low, max_balance=high
                    )
            except IntegrityError:
                accounts[kind] = Account.objects.get(wallet=wallet, kind=kind, currency=wallet.currency)
    return accounts


def wallet_account(wallet: Wallet, kind: str) -> Account:
    account = Account.objects.filter(wallet=wallet, kind=kind, currency=wallet.currency).first()
    return account or wallet_accounts_ensure(wallet)[kind]


# accounts_for's read; its columns: _ACCOUNT_FIELDS (in the model's field order), then the wallet's distributor.
_ACCOUNT_FIELDS = ["id", "wallet_id", "kind", "currency", "balance", "min_balance", "max_balance"]
ACCOUNTS_SQL = """
SELECT a.id, a.wallet_id, a.kind, a.currency, a.balance, a.min_balance, a.max_balance, NULL::bigint FROM settlement_account a
WHERE a.wallet_id IS NULL AND a.currency = %s AND a.kind = ANY(%s::varchar[])
UNION ALL
SELECT a.id, a.wallet_id, a.kind, a.currency, a.balance, a.min_balance, a.max_balance, w.distributor_id FROM settlement_account a
JOIN settlement_wallet w ON w.id = a.wallet_id AND w.currency = a.currency
WHERE w.distributor_id = ANY(%s::bigint[]) AND a.kind = ANY(%s::varchar[])
"""


def accounts_wanted(*, currency: str, platform: Iterable[str] = (), wallets: dict | None = None) -> list:
    """The parameters of ACCOUNTS_SQL for these accounts (see accounts_for)."""
    wallets = {d: set(kinds) for d, kinds in (wallets or {}).items() if kinds}
    kinds = sorted(set().union(*wallets.values())) if wallets else []
    return [currency, sorted(set(platform)), sorted(d.pk for d in wallets), kinds]


def accounts_for(*, currency: str, platform: Iterable[str] = (), wallets: dict | None = None, rows=None) -> dict[tuple, Account]:
    """The platform's accounts of these kinds in `currency` and distributors' wallet accounts, read in
    one query: {(None, kind): account, (distributor_id, kind): account}. `wallets` maps a distributor to
    the kinds wanted; a wallet account is in the wallet's own currency and has `distributor_id` set.
    What does not exist yet (a first sale) is created, as `platform_account` and `wallet_for` do.
    `rows`: ACCOUNTS_SQL's rows, when the caller read them within a statement of its own."""
    platform = set(platform)
    wallets = {d: set(kinds) for d, kinds in (wallets or {}).items() if kinds}
    if rows is None and connection.vendor == "postgresql":
        rows = prepared.run(ACCOUNTS_SQL, accounts_wanted(currency=currency, platform=platform, wallets=wallets))
    if rows is not None:
        found = {}
        for row in rows:
            account = Account.from_db(connection.alias, _ACCOUNT_FIELDS, row[:-1])
            account.distributor_id = row[-1]
            found[(account.distributor_id, account.kind)] = account
    else:
        kinds = set().union(*wallets.values()) if wallets else set()
        wanted = Q(pk__in=[])
        if platform:
            wanted |= Q(wallet__isnull=True, currency=currency, kind__in=platform)
        if wallets:
            wanted |= Q(wallet__distributor_id__in=[d.pk for d in wallets], currency=F("wallet__currency"), kind__in=kinds)
        accounts = Account.objects.filter(wanted).annotate(distributor_id=F("wallet__distributor_id"))
        found = {(a.distributor_id, a.kind): a for a in accounts}
    for kind in platform:
        if (None, kind) not in found:
            found[(None, kind)] = platform_account(kind, currency)
    for distributor, kinds in wallets.items():
        if any((distributor.pk, kind) not in found for kind in kinds):
            from settlement.services.wallets import wallet_for

            for kind, account in wallet_accounts_ensure(wallet_for(distributor)).items():
                account.distributor_id = distributor.pk
                found[(distributor.pk, kind)] = account
    return found


def _breach(account: Account, new_balance: Decimal):
    if account.kind == Kind.WALLET:
        return InsufficientFunds(
            _("Wallet balance %(balance)s plus credit limit %(limit)s does not cover %(amount)s.")
            % {"balance": account.balance, "limit": -(account.min_balance or ZERO), "amount": account.balance - new_balance},
            field="amount",
        )
    return LimitBreached(
        _("%(account)s would go to %(balance)s.") % {"account": account.get_kind_display(), "balance": new_balance}, field="amount"
    )


def _past_limit(account: Account, new_balance: Decimal) -> bool:
    return (account.min_balance is not None and new_balance < account.min_balance) or (
        account.max_balance is not None and new_balance > account.max_balance
    )


@dataclass
class _Prepared:
    posting: Posting
    totals: dict[int, Decimal]  # account id -> amount (never zero), in id order
    currencies: dict[int, str]


def _prepare(posting: Posting) -> _Prepared:
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    currencies: dict[int, str] = {}
    for line in posting.lines:
        account, amount = (line.account, line.amount) if isinstance(line, Line) else line
        amount = money(amount)
        if amount == ZERO:
            continue
        totals[account.pk] += amount
        currencies[account.pk] = account.currency
    totals = {pk: totals[pk] for pk in sorted(totals) if totals[pk] != ZERO}
    per_currency: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for pk, amount in totals.items():
        per_currency[currencies[pk]] += amount
    if not totals or any(v != ZERO for v in per_currency.values()):
        raise Unbalanced(currencies={c: str(v) for c, v in per_currency.items()})
    return _Prepared(posting=posting, totals=totals, currencies=currencies)


def _moves(batch: list[_Prepared]) -> tuple[dict[int, Decimal], dict[int, int]]:
    deltas: dict[int, Decimal] = defaultdict(lambda: ZERO)
    counts: dict[int, int] = defaultdict(int)
    for item in batch:
        for pk, amount in item.totals.items():
            deltas[pk] += amount
            counts[pk] += 1
    return dict(deltas), dict(counts)


_MOVE_SQL = """
WITH v (id, delta, n) AS (SELECT * FROM unnest(%s::bigint[], %s::numeric[], %s::integer[])),
locked AS MATERIALIZED (
    SELECT a.id, a.balance, a.min_balance, a.max_balance FROM settlement_account a
    WHERE a.id IN (SELECT v.id FROM v) ORDER BY a.id FOR UPDATE
),
go AS (
    SELECT NOT EXISTS (
        SELECT 1 FROM locked l JOIN v ON v.id = l.id
        WHERE l.balance + v.delta < l.min_balance OR l.balance + v.delta > l.max_balance
    ) AND NOT EXISTS (SELECT 1 FROM settlement_transfer t WHERE t.key = ANY(%s::varchar[])) AS ok
)
UPDATE settlement_account a SET balance = a.balance + v.delta, entry_count = a.entry_count + v.n
FROM v, go WHERE a.id = v.id AND go.ok
RETURNING a.id, a.balance
"""

_TAKE_BACK_SQL = """
UPDATE settlement_account a SET balance = a.balance - v.delta, entry_count = a.entry_count - v.n
FROM unnest(%s::bigint[], %s::numeric[], %s::integer[]) AS v (id, delta, n) WHERE a.id = v.id
"""

# A batch whose transfers are all keyed, in one statement: lock, check and move the balances (as
# _MOVE_SQL), then, only if every balance moved, insert the transfers and, only if every transfer went in,
# their entries (each entry's balance after = the account's balance after the batch less what later
# entries of the batch move it by). Nothing moved: a limit or a key posted before, nothing written.
_POST_SQL = """
WITH v (id, delta, n) AS (SELECT * FROM unnest(%s::bigint[], %s::numeric[], %s::integer[])),
locked AS MATERIALIZED (
    SELECT a.id, a.balance, a.min_balance, a.max_balance FROM settlement_account a
    WHERE a.id IN (SELECT v.id FROM v) ORDER BY a.id FOR UPDATE
),
go AS (
    SELECT NOT EXISTS (
        SELECT 1 FROM locked l JOIN v ON v.id = l.id
        WHERE l.balance + v.delta < l.min_balance OR l.balance + v.delta > l.max_balance
    ) AND NOT EXISTS (SELECT 1 FROM settlement_transfer t WHERE t.key = ANY(%s::varchar[])) AS ok
),
moved AS (
    UPDATE settlement_account a SET balance = a.balance + v.delta, entry_count = a.entry_count + v.n
    FROM v, go WHERE a.id = v.id AND go.ok
    RETURNING a.id, a.balance
),
t AS (
    INSERT INTO settlement_transfer (kind, key, reference, order_id, memo, reverses_id, created_by_id, created_at)
    SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[], %s::varchar[], %s::bigint[], %s::bigint[],
                         %s::timestamptz[])
    WHERE (SELECT count(*) FROM moved) = %s
    ON CONFLICT (key) DO NOTHING
    RETURNING id, key
),
e AS (
    INSERT INTO settlement_entry (transfer_id, account_id, amount, currency, balance_after, created_at)
    SELECT t.id, x.account_id, x.amount, x.currency, m.balance - x.later, x.created_at
    FROM unnest(%s::varchar[], %s::bigint[], %s::numeric[], %s::varchar[], %s::numeric[], %s::timestamptz[])
         WITH ORDINALITY AS x (key, account_id, amount, currency, later, created_at, k)
    JOIN t ON t.key = x.key JOIN moved m ON m.id = x.account_id
    WHERE (SELECT count(*) FROM t) = %s
    ORDER BY x.k
)
SELECT m.id, m.balance, NULL::bigint, NULL::varchar FROM moved m
UNION ALL
SELECT NULL, NULL, t.id, t.key FROM t
"""


def _post_one_statement(batch: list[_Prepared], rows: list[Transfer], deltas, counts, keys) -> tuple[dict, dict] | None:
    """_POST_SQL; None when nothing moved, else (balances after, {key: transfer id} of those inserted)."""
    entries = [
        (row.key, pk, amount, item.currencies[pk], row.created_at)
        for item, row in zip(batch, rows, strict=True)
        for pk, amount in item.totals.items()
    ]
    later, seen = [], defaultdict(lambda: ZERO)
    for _key, pk, amount, _currency, _at in reversed(entries):
        later.append(seen[pk])
        seen[pk] += amount
    later.reverse()
    transfer_columns = ["kind", "key", "reference", "order_id", "memo", "reverses_id", "created_by_id", "created_at"]
    params = [*_arrays(deltas, counts), keys]
    params += [[getattr(row, column) for row in rows] for column in transfer_columns] + [len(deltas)]
    params += [[entry[i] for entry in entries] for i in range(4)] + [later, [entry[4] for entry in entries], len(rows)]
    result = prepared.run(_POST_SQL, params)
    balances = {r[0]: r[1] for r in result if r[0] is not None}
    if not balances:
        return None
    if len(balances) != len(deltas):  # an account id that does not exist
        raise Account.DoesNotExist(f"ledger accounts {sorted(set(deltas) - set(balances))} do not exist")
    return balances, {r[3]: r[2] for r in result if r[2] is not None}


def _arrays(deltas: dict[int, Decimal], counts: dict[int, int]) -> list[list]:
    ids = sorted(deltas)
    return [ids, [deltas[pk] for pk in ids], [counts[pk] for pk in ids]]


def _move_postgresql(deltas, counts, keys: list[str]) -> dict[int, Decimal] | None:
    """Lock, check and move in one statement; None when nothing moved (a limit, or a key posted before)."""
    balances = dict(prepared.run(_MOVE_SQL, [*_arrays(deltas, counts), keys]))
    if not balances:
        return None
    if len(balances) != len(deltas):  # an account id that does not exist: refuse the whole batch
        raise Account.DoesNotExist(f"ledger accounts {sorted(set(deltas) - set(balances))} do not exist")
    return balances


def _lock(account_ids) -> dict[int, Account]:
    return {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=sorted(account_ids)).order_by("pk")}


def _check(locked: dict[int, Account], deltas: dict[int, Decimal]) -> None:
    for pk, amount in deltas.items():
        account = locked[pk]
        if _past_limit(account, account.balance + amount):
            raise _breach(account, account.balance + amount)


def _move_orm(deltas, counts) -> dict[int, Decimal]:
    """Other databases: lock (id order), check, move one account at a time."""
    locked = _lock(deltas)
    if len(locked) != len(deltas):
        raise Account.DoesNotExist(f"ledger accounts {sorted(set(deltas) - set(locked))} do not exist")
    _check(locked, deltas)
    for pk in sorted(deltas):
        Account.objects.filter(pk=pk).update(balance=F("balance") + deltas[pk], entry_count=F("entry_count") + counts[pk])
    return {pk: locked[pk].balance + deltas[pk] for pk in deltas}


def _transfer_row(posting: Posting, now) -> Transfer:
    return Transfer(
        kind=posting.kind,
        key=posting.key,
        reference=posting.reference[:64],
        memo=posting.memo[:300],
        order=posting.order,
        created_by=_user(posting.actor),
        reverses=posting.reverses,
        created_at=now,
    )


def _insert_transfers_postgresql(rows: list[Transfer]) -> list[Transfer | None]:
    """One INSERT for all; a row whose key another transaction committed meanwhile comes back as None."""
    columns = ["kind", "key", "reference", "order_id", "memo", "reverses_id", "created_by_id", "created_at"]
    params: list = []
    for row in rows:
        params += [getattr(row, c) for c in columns]
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    sql = f"INSERT INTO settlement_transfer ({', '.join(columns)}) VALUES {placeholders} ON CONFLICT (key) DO NOTHING RETURNING id, key"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    # RETURNING gives the inserted rows in VALUES order; only keyed rows can be missing.
    out: list[Transfer | None] = []
    position = 0
    for row in rows:
        if position < len(returned) and (row.key is None or returned[position][1] == row.key):
            row.pk = returned[position][0]
            row._state.adding, row._state.db = False, connection.alias
            out.append(row)
            position += 1
        else:
            out.append(None)
    return out


def transfers_post(postings: Sequence[Posting]) -> list[Transfer]:
    """Post several balanced transfers together, all or none; returns them in the order given.

    Each posting is checked to balance per currency (else `Unbalanced`); every account moves within
    its limits (else `InsufficientFunds` / `LimitBreached`, nothing written); a posting whose `key`
    was posted before returns that first transfer unchanged. Joins the caller's transaction, or
    opens one when there is none."""
    batch = [_prepare(p) for p in postings]
    keys = [item.posting.key for item in batch if item.posting.key is not None]
    if len(set(keys)) != len(keys):
        raise ValueError("a transfer key appears twice in one batch")
    if connection.in_atomic_block:
        # No savepoint: a refusal raises before anything is written, so the caller's transaction stays usable.
        return _post(batch, keys)
    with transaction.atomic():
        return _post(batch, keys)


def _post(batch: list[_Prepared], keys: list[str]) -> list[Transfer]:
    if not batch:
        return []
    deltas, counts = _moves(batch)
    postgresql = connection.vendor == "postgresql"
    now = timezone.now()
    rows = [_transfer_row(item.posting, now) for item in batch]
    if postgresql and all(row.key is not None for row in rows):
        # Every transfer keyed: balances, transfers and entries in one statement.
        done = _post_one_statement(batch, rows, deltas, counts, keys)
        if done is None:
            existing = {t.key: t for t in Transfer.objects.filter(key__in=keys)}
            if existing:
                return _with_existing(batch, existing)
            _check(_lock(deltas), deltas)  # raises for the account past its limit
            done = _post_one_statement(batch, rows, deltas, counts, keys)  # the rows are ours now: not refused again
            if done is None:
                raise RuntimeError("the ledger refused a posting that is within every limit")
        balances, returned = done
        for row in rows:
            if row.key in returned:
                row.pk = returned[row.key]
                row._state.adding, row._state.db = False, connection.alias
        if len(returned) == len(rows):
            return rows
        inserted = [row if row.key in returned else None for row in rows]  # no entry was written
    elif postgresql:
        balances = _move_postgresql(deltas, counts, keys)
        if balances is None:
            existing = {t.key: t for t in Transfer.objects.filter(key__in=keys)} if keys else {}
            if existing:
                return _with_existing(batch, existing)
            _check(_lock(deltas), deltas)  # raises for the account past its limit
            balances = _move_postgresql(deltas, counts, keys)  # the rows are ours now: this cannot be refused again
            if balances is None:
                raise RuntimeError("the ledger refused a posting that is within every limit")
        inserted = _insert_transfers_postgresql(rows)
    else:
        existing = {t.key: t for t in Transfer.objects.filter(key__in=keys)} if keys else {}
        if existing:
            return _with_existing(batch, existing)
        balances = _move_orm(deltas, counts)
        for row in rows:
            row.save(force_insert=True)
        inserted = list(rows)
    lost = [item for item, transfer in zip(batch, inserted, strict=True) if transfer is None]
    lost_ids = {id(item) for item in lost}
    if lost:
        # Another transaction committed these keys between our check and our insert: take their moves back.
        lost_deltas, lost_counts = _moves(lost)
        if postgresql:
            prepared.run(_TAKE_BACK_SQL, _arrays(lost_deltas, lost_counts))
        for pk, amount in lost_deltas.items():
            balances[pk] -= amount
        existing = {t.key: t for t in Transfer.objects.filter(key__in=[item.posting.key for item in lost])}
        inserted = [t if t is not None else existing[item.posting.key] for item, t in zip(batch, inserted, strict=True)]
    posted = [(item, transfer) for item, transfer in zip(batch, inserted, strict=True) if id(item) not in lost_ids]
    Entry.objects.bulk_create(
        [
            Entry(
                transfer=transfer,
                account_id=pk,
                amount=amount,
                currency=currency,
                balance_after=after,
                created_at=transfer.created_at or now,
            )
            for transfer, pk, amount, currency, after in _entries(posted, balances)
        ]
    )
    return inserted


def _entries(posted: list[tuple[_Prepared, Transfer]], balances: dict[int, Decimal]):
    """(transfer, account id, amount, currency, balance after) for each entry, in posting order; the
    balances after are counted back from the accounts' balances after the whole batch."""
    moved, _counts = _moves([item for item, _t in posted])
    running = {pk: balances[pk] - amount for pk, amount in moved.items()}
    for item, transfer in posted:
        for pk, amount in item.totals.items():
            running[pk] += amount
            yield transfer, pk, amount, item.currencies[pk], running[pk]


def _with_existing(batch: list[_Prepared], existing: dict[str, Transfer]) -> list[Transfer]:
    """Postings whose key was posted before return that transfer; the others are posted now."""
    rest = [item for item in batch if item.posting.key not in existing]
    posted = iter(_post(rest, [item.posting.key for item in rest if item.posting.key is not None]))
    return [existing[item.posting.key] if item.posting.key in existing else next(posted) for item in batch]


def transfer_post(
    *,
    kind: str,
    lines: Iterable[Line | tuple[Account, Decimal]],
    reference: str = "",
    memo: str = "",
    order=None,
    actor=None,
    key: str | None = None,
    reverses: Transfer | None = None,
) -> Transfer:
    """Post one balanced transfer: lock the accounts (in id order), check their limits, append the
    entries, move the balances. With `key`, a second call returns the first transfer unchanged."""
    posting = Posting(kind=kind, lines=list(lines), reference=reference, memo=memo, order=order, actor=actor, key=key, reverses=reverses)
    return transfers_post([posting])[0]


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) else None


@transaction.atomic
def transfer_reverse(*, transfer: Transfer, actor=None, memo: str = "") -> Transfer:
    """Correct a transfer by posting its mirror image. A transfer is reversed at most once."""
    existing = Transfer.objects.filter(reverses=transfer).first()
    if existing is not None:
        return existing
    lines = [(entry.account, -entry.amount) for entry in transfer.entries.select_related("account")]
    return transfer_post(
        kind=Transfer.Kind.REVERSAL,
        lines=lines,
        reference=transfer.reference,
        order=transfer.order,
        memo=memo or _("Reversal of transfer #%(id)s") % {"id": transfer.pk},
        actor=actor,
        reverses=transfer,
        key=f"reverse:{transfer.pk}",
    )
