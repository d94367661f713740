"""Re-encrypting personal data under the active field key (key rotation, step 2)."""

from __future__ import annotations

from collections.abc import Callable

from microlend.security.fields import FieldCipher
from microlend.store.uow import UnitOfWork

_FIELD_OF_COLUMN = {"id_number_token": "id_number", "phone_token": "phone", "card_token": "bank_card"}


def rotate_customer_pii(*, uow: UnitOfWork, cipher: FieldCipher, batch_size: int = 500,
                        progress: Callable[[int], None] | None = None) -> int:
    """Re-encrypt every token not under the active key, one committed batch at a time.

    Safe to stop and run again: tokens already under the active key are left alone.
    Returns how many customers were changed.
    """
    changed = 0
    last_id = 0
    while True:
        with uow:
            rows = uow.customer_pii.batch_after(last_id, batch_size)
            if not rows:
                return changed
            for row in rows:
                updates = {
                    column: cipher.rotate(getattr(row, column), field=field)
                    for column, field in _FIELD_OF_COLUMN.items()
                    if getattr(row, column) is not None and cipher.needs_rotation(getattr(row, column))
                }
                if updates:
                    uow.customer_pii.update_tokens(row.id, updates)
                    changed += 1
            uow.commit()
            last_id = rows[-1].id
        if progress is not None:
            progress(len(rows))
