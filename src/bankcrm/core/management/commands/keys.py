"""``bankcrm keys``: rotate the encryption keys and show their state.

Rotating a key-encryption key (KEK) in envelope encryption means re-wrapping the data keys,
not re-encrypting the data. Every value is encrypted under a data key (DEK); the database
holds each DEK only wrapped under a KEK from the keyring. ``keys rotate`` adds a new KEK
version, then unwraps every DEK with its old KEK and wraps it again with the new one, in
batches of ``--batch-size``, each its own transaction. The DEKs themselves do not change,
so millions of encrypted values stay untouched and readable throughout; once no DEK is
wrapped under an old KEK, that KEK protects nothing and can be retired from the keyring.
A run that is stopped half-way is resumed by running the command again: a key already
re-wrapped is not touched twice.

``--reencrypt`` also re-encrypts every encrypted value (fresh nonce, the record's current
data key, blind indexes recomputed), table by table in primary-key order, with its resume
point saved after every batch: use it after changing a model's key scope or the
blind-index key, or to retire an old ciphertext format.

``keys status`` lists the keyring's versions and how many data keys each wraps.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Q

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.core.crypto.errors import CryptoError
from bankcrm.core.crypto.keyring import get_keyring
from bankcrm.core.models import DataKey, KeyRotation
from bankcrm.core.services import (
    data_keys_rewrap_batch,
    data_keys_to_rewrap,
    encrypted_values_reencrypt_batch,
    key_rotation_finish,
    key_rotation_start,
    models_with_encrypted_fields,
)

ACTOR = SystemActor("keys-rotate")


class Command(BaseCommand):
    help = "Rotate the encryption keys (keys rotate) or show their state (keys status)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rotate = sub.add_parser(
            "rotate",
            help="add a new key version and re-wrap every data key under it (resumable)",
        )
        rotate.add_argument(
            "--no-new-version",
            action="store_true",
            help="do not add a key version: re-wrap to the keyring's newest version",
        )
        rotate.add_argument(
            "--batch-size", type=int, default=500, help="keys or rows per transaction"
        )
        rotate.add_argument(
            "--reencrypt",
            action="store_true",
            help="also re-encrypt every encrypted value under a fresh nonce",
        )
        rotate.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="stop after this many batches (run again to continue)",
        )
        status = sub.add_parser("status", help="key versions and data keys per version")
        status.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        with request_context(channel="command"):
            try:
                if options["action"] == "rotate":
                    self.rotate(options)
                else:
                    self.status(options)
            except CryptoError as exc:
                raise CommandError(str(exc)) from exc

    # --- rotate --------------------------------------------------------------------------

    def rotate(self, options: dict[str, Any]) -> None:
        batch_size = options["batch_size"]
        max_batches = options["max_batches"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if max_batches is not None and max_batches < 1:
            raise CommandError("--max-batches must be at least 1")
        rotation, resumed = key_rotation_start(
            actor=ACTOR,
            new_version=not options["no_new_version"],
            reencrypt=options["reencrypt"],
        )
        version = rotation.kek_version
        if resumed:
            self.stdout.write(f"Resuming the unfinished rotation to key version {version}.")
        else:
            self.stdout.write(f"Rotating to key version {version}.")
        budget = max_batches
        total = data_keys_to_rewrap(version).count()
        rewrapped = 0
        while budget is None or budget > 0:
            done = data_keys_rewrap_batch(actor=ACTOR, rotation=rotation, batch_size=batch_size)
            if done == 0:
                break
            rewrapped += done
            budget = None if budget is None else budget - 1
            self.stdout.write(f"  re-wrapped {rewrapped}/{total} data keys")
        reencrypted = 0
        if rotation.reencrypt:
            for model in models_with_encrypted_fields():
                label = model._meta.label_lower
                while budget is None or budget > 0:
                    done = encrypted_values_reencrypt_batch(
                        actor=ACTOR, rotation=rotation, model=model, batch_size=batch_size
                    )
                    if done == 0:
                        break
                    reencrypted += done
                    budget = None if budget is None else budget - 1
                    self.stdout.write(f"  re-encrypted {reencrypted} rows ({label})")
        remaining_keys = data_keys_to_rewrap(version).count()
        remaining_models = (
            [
                m._meta.label_lower
                for m in models_with_encrypted_fields()
                if rotation.progress.get(m._meta.label_lower) != "done"
            ]
            if rotation.reencrypt
            else []
        )
        complete = remaining_keys == 0 and not remaining_models
        if complete:
            key_rotation_finish(actor=ACTOR, rotation=rotation)
            self.stdout.write("Rotation complete.")
        else:
            self.stdout.write(
                f"Stopped with {remaining_keys} data keys and {len(remaining_models)} "
                "tables left: run `bankcrm keys rotate` again to continue."
            )
        summary: dict[str, Any] = {"rewrapped": rewrapped, "kek_version": version}
        if rotation.reencrypt:
            summary["reencrypted"] = reencrypted
        summary["complete"] = complete
        if not complete:
            summary["remaining_data_keys"] = remaining_keys
        self.stdout.write(json.dumps(summary))

    # --- status --------------------------------------------------------------------------

    def status(self, options: dict[str, Any]) -> None:
        keyring = get_keyring()
        rows = (
            DataKey.objects.values("kek_version")
            .annotate(
                live=Count("pk", filter=Q(destroyed_at__isnull=True)),
                destroyed=Count("pk", filter=Q(destroyed_at__isnull=False)),
            )
            .order_by("kek_version")
        )
        per_version = {
            str(row["kek_version"]): {"live": row["live"], "destroyed": row["destroyed"]}
            for row in rows
        }
        unfinished = KeyRotation.objects.filter(finished_at__isnull=True).first()
        last = KeyRotation.objects.filter(finished_at__isnull=False).first()
        report: dict[str, Any] = {
            "keyring": keyring.description,
            "versions": keyring.versions(),
            "current_version": keyring.current_version(),
            "data_keys": per_version,
            "rotation_in_progress": unfinished.kek_version if unfinished else None,
            "last_rotation": last.finished_at.isoformat() if last and last.finished_at else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        self.stdout.write(f"Keyring: {report['keyring']}")
        self.stdout.write(
            f"Key versions: {', '.join(str(v) for v in report['versions'])} "
            f"(current {report['current_version']})"
        )
        if not per_version:
            self.stdout.write("No data keys yet.")
        for version, counts in per_version.items():
            self.stdout.write(
                f"  version {version}: {counts['live']} data keys, {counts['destroyed']} destroyed"
            )
        stale = sum(
            c["live"] for v, c in per_version.items() if int(v) != report["current_version"]
        )
        if stale:
            self.stdout.write(
                f"{stale} data keys are wrapped under an older version: run `bankcrm keys rotate"
                " --no-new-version`."
            )
        if unfinished:
            self.stdout.write(
                f"A rotation to version {unfinished.kek_version} is unfinished: run "
                "`bankcrm keys rotate` to complete it."
            )
