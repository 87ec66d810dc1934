"""First start of a hub: the ministry's units, the seed datasets, the bootstrap admin key."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.orm import Session

from catalog import datasets, repository
from gateway.settings import Settings
from schemas.descriptor import seed_descriptors

log = logging.getLogger(__name__)

UNITS = {
    "TCT": "Tổng cục Thuế (General Department of Taxation)",
    "KBNN": "Kho bạc Nhà nước (State Treasury)",
    "TCHQ": "Tổng cục Hải quan (General Department of Customs)",
    "THTK": "Cục Tin học và Thống kê tài chính (hub operator)",
}
ADMIN_UNIT = "THTK"
BOOTSTRAP_ADMIN_KEY_ID = "key_bootstrap_admin"


def seed_catalog(session: Session) -> list[str]:
    """Create the units and seed datasets that are missing; returns the datasets created."""
    for code, name in UNITS.items():
        repository.ensure_unit(session, code=code, name=name)
    created = []
    for descriptor in seed_descriptors():
        if repository.get_dataset(session, dataset_id=descriptor.id) is None:
            # The seed suites are checked by the test suite (tests/schemas); checking them here
            # would load Great Expectations into the gateway process just for this.
            datasets.register_dataset(
                session, descriptor=descriptor, status="active", check_rules=False
            )
            created.append(descriptor.id)
    return created


def ensure_admin_key(session: Session, settings: Settings) -> str | None:
    """Install the bootstrap admin key. Returns a generated key to show once, or None.

    Outside development the key comes from FDXP_ADMIN_KEY (Settings refuses defaults). In
    development a missing key is generated on the first start, printed once, and kept in
    `<data_dir>/admin.key` (mode 0600) so a developer can find it again.
    """
    if settings.admin_key:
        repository.put_api_key(
            session,
            key_id=BOOTSTRAP_ADMIN_KEY_ID,
            unit_code=ADMIN_UNIT,
            role="admin",
            plaintext=settings.admin_key,
            label="bootstrap admin (FDXP_ADMIN_KEY)",
        )
        return None
    key_file = Path(settings.data_dir) / "admin.key"
    existing = repository.get_api_key(session, key_id=BOOTSTRAP_ADMIN_KEY_ID)
    if existing is not None and existing.revoked_at is None:
        return None
    plaintext = repository.new_key_plaintext()
    repository.put_api_key(
        session,
        key_id=BOOTSTRAP_ADMIN_KEY_ID,
        unit_code=ADMIN_UNIT,
        role="admin",
        plaintext=plaintext,
        label="bootstrap admin (generated, development)",
    )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(plaintext + "\n")
    return plaintext
