"""The password hasher: Argon2id with parameters chosen for a rush of sign-ins.

Measured on a 2-core x86_64 server (argon2-cffi, in process): one verify with Django's default
Argon2 parameters (time cost 2, 100 MiB, 8 lanes) costs 190–200 ms of CPU (about 100 ms of wall
time on an idle machine, the lanes spread over both cores) and 100 MiB of memory while it runs;
PBKDF2-SHA256 at Django's 1,000,000 iterations costs about 230 ms of CPU. When a commune opens
its bookings, 200 families signing in would spend some 40 s of CPU (20 s of both cores) on
hashing alone, and 40 sign-ins at once (4 workers × 10 threads) would ask for 4 GB.

The parameters below are OWASP's recommended minimum for Argon2id (19 MiB, 2 passes, 1 lane):
20–23 ms of CPU and 19 MiB per verify, about nine times cheaper, and still memory-hard for
whoever steals the hashes (each guess costs 19 MiB of memory). A stored hash carries its own
parameters: hashes made with other parameters, or with PBKDF2, are still verified, and Django
hashes the password again with these at the next successful sign-in. bench/booking_burst.py
prints the verify time on the machine it runs on; raise ``memory_cost`` first if sign-ins
become cheap compared with the rest of a request.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.hashers import Argon2PasswordHasher


class FoyerArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1


def hash_token(raw: str) -> str:
    """The stored form of an API key (régie keys ``foyer_rt_…``, personal keys ``foyer_pt_…``):
    a key is 32 random bytes, so one SHA-256 without salt is enough and keeps the lookup a
    plain indexed equality."""
    return hashlib.sha256(raw.encode()).hexdigest()
