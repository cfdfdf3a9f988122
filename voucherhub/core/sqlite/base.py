"""Django's SQLite backend (the embedded database of `make run`), with decimal sums read back at their
field's places.

SQLite has no decimal type: SUM() adds REAL numbers. Django rounds a column it reads back to the field's
decimal places, but any other expression only to 15 significant digits, so the sum of 1.60 + 3.20 reads
as Decimal('4.80000000000003') and 4,510.00 as Decimal('4510'). A total on a page then shows float noise
or no cents, and the ledger check finds a balance unequal to the sum of its entries. Here an expression
whose output field has decimal places (SUM, MIN, MAX of a money column, COALESCE of one) is rounded to
them, as PostgreSQL's NUMERIC gives it.
"""

from decimal import Decimal

from django.db.backends.sqlite3 import base, operations
from django.db.models.expressions import Col


class DatabaseOperations(operations.DatabaseOperations):
    def get_decimalfield_converter(self, expression):
        converter = super().get_decimalfield_converter(expression)
        field = expression.output_field
        if isinstance(expression, Col) or getattr(field, "decimal_places", None) is None:
            return converter
        places = Decimal(1).scaleb(-field.decimal_places)

        def rounded(value, expression, connection):
            value = converter(value, expression, connection)
            return None if value is None else value.quantize(places, context=field.context)

        return rounded


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
