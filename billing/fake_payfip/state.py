"""The fake PayFiP's memory: the client numbers it knows (one per régie), the operations
(``idOp``) they created, what the family chose on the checkout page, the notifications sent,
the faults to inject. No Django, no HTTP here (billing.fake_payfip.server)."""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from billing.fake_mollie.state import Fault, make_fault

PARIS = ZoneInfo("Europe/Paris")
NUMCLI_RE = re.compile(r"^[0-9]{6}$")
REFDET_RE = re.compile(r"^[A-Za-z0-9]{1,30}$")
MONTANT_RE = re.compile(r"^[0-9]{1,8}$")
URL_RE = re.compile(r"^https?://\S+$")
# The family's choice on the checkout page → PayFiP's ``resultrans``.
RESULTS = {"paid": "P", "refused": "R", "canceled": "A"}
LABELS = {"paid": "Payé", "refused": "Refusé", "canceled": "Annulé"}


class SoapFault(Exception):
    """A PayFiP functional error (``FonctionnelleErreur``): a code and its French wording."""

    def __init__(self, code: str, libelle: str, kind: str = "FonctionnelleErreur", http_status: int = 500):
        super().__init__(f"{code}: {libelle}")
        self.code, self.libelle, self.kind, self.http_status = code, libelle, kind, http_status


@dataclass
class Operation:
    idop: str
    numcli: str
    saisie: str
    exer: str
    montant: str  # cents, as PayFiP writes it
    refdet: str
    mel: str
    objet: str
    urlnotif: str
    urlredirect: str
    result: str = ""  # "" until the family chooses: P, R or A
    at: dt.datetime | None = None  # when the family chose (Paris time, to the minute)
    numauto: str = ""
    overrides: dict[str, str] = field(default_factory=dict)

    def details(self) -> dict[str, str]:
        """``recupererDetailPaiementSecurise``'s answer, in the WSDL's order."""
        at = (self.at or dt.datetime.now(PARIS)).astimezone(PARIS)
        answer = {
            "dattrans": at.strftime("%d%m%Y"),
            "exer": self.exer,
            "heurtrans": at.strftime("%H%M"),
            "idOp": self.idop,
            "mel": self.mel,
            "montant": self.montant,
            "numauto": self.numauto,
            "numcli": self.numcli,
            "objet": self.objet,
            "refdet": self.refdet,
            "resultrans": self.result,
            "saisie": self.saisie,
        }
        return {**answer, **self.overrides}

    def as_dict(self) -> dict[str, Any]:
        return {**self.details(), "urlnotif": self.urlnotif, "urlredirect": self.urlredirect}


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.root = ""
        self.generation = 0  # bumped by reset(): pending notification retries stop
        self.clients: dict[str, str] = {}  # numcli → name; reset() keeps them
        self._clear()

    def _clear(self) -> None:
        self.operations: dict[str, Operation] = {}
        self.faults: list[Fault] = []
        self.notifications: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self.lock:
            self._clear()
            self.generation += 1

    def add_client(self, numcli: str, name: str = "") -> dict[str, str]:
        if not isinstance(numcli, str) or not NUMCLI_RE.match(numcli):
            raise ValueError("numcli must be 6 digits")
        with self.lock:
            if name or numcli not in self.clients:
                self.clients[numcli] = name
            return {"numcli": numcli, "name": self.clients[numcli]}

    # --- the web service ---------------------------------------------------------------------

    def detail_client(self, numcli: str) -> dict[str, str]:
        with self.lock:
            if numcli not in self.clients:
                raise SoapFault("C1", "Numéro client inconnu (serveur PayFiP factice).")
            name = self.clients[numcli] or "Régie"
            return {"libelleN1": name[:60], "libelleN2": "", "libelleN3": "", "numcli": numcli}

    def create(self, fields: dict[str, str]) -> str:
        """``creerPaiementSecurise``: checked as PayFiP does, then a new ``idOp``."""
        numcli = fields.get("numcli", "")
        with self.lock:
            if numcli not in self.clients:
                raise SoapFault("C1", "Numéro client inconnu (serveur PayFiP factice).")
            problems = [
                name
                for name, ok in (
                    ("saisie", fields.get("saisie") in ("T", "X", "W")),
                    ("exer", re.fullmatch(r"[0-9]{4}", fields.get("exer", "")) is not None),
                    ("montant", MONTANT_RE.match(fields.get("montant", "")) is not None),
                    ("refdet", REFDET_RE.match(fields.get("refdet", "")) is not None),
                    ("mel", "@" in fields.get("mel", "") and 6 <= len(fields.get("mel", "")) <= 80),
                    ("urlnotif", URL_RE.match(fields.get("urlnotif", "")) is not None),
                    ("urlredirect", URL_RE.match(fields.get("urlredirect", "")) is not None),
                )
                if not ok
            ]
            if problems:
                raise SoapFault(
                    "P2", f"Paramètres invalides : {', '.join(problems)} (serveur PayFiP factice)."
                )
            if int(fields["montant"]) < 100:
                raise SoapFault("P3", "Montant inférieur au minimum de 1,00 € (serveur PayFiP factice).")
            idop = str(uuid.uuid4())
            self.operations[idop] = Operation(
                idop=idop,
                numcli=numcli,
                saisie=fields["saisie"],
                exer=fields["exer"],
                montant=str(int(fields["montant"])),
                refdet=fields["refdet"],
                mel=fields["mel"],
                objet=fields.get("objet", ""),
                urlnotif=fields["urlnotif"],
                urlredirect=fields["urlredirect"],
            )
            return idop

    def detail_payment(self, idop: str) -> dict[str, str]:
        """``recupererDetailPaiementSecurise``: P1 for an unknown ``idOp``, P5 while the family
        has not chosen, else the details."""
        with self.lock:
            operation = self.operations.get(idop)
            if operation is None:
                raise SoapFault("P1", "IdOp incorrect.")
            if not operation.result and "resultrans" not in operation.overrides:
                raise SoapFault("P5", "Résultat de la transaction non connu.")
            return operation.details()

    # --- controls --------------------------------------------------------------------------

    def operation(self, idop: str) -> Operation:
        with self.lock:
            operation = self.operations.get(idop)
            if operation is None:
                raise KeyError(idop)
            return operation

    def set_result(self, idop: str, choice: str, *, minutes_ago: int = 0, only_if_open: bool = False) -> bool:
        """The family's choice (paid / refused / canceled); False when ``only_if_open`` and
        the operation is already settled (the checkout page, pressed twice)."""
        if choice not in RESULTS:
            raise ValueError(f"unknown result {choice!r}: use {', '.join(RESULTS)}")
        with self.lock:
            operation = self.operation(idop)
            if only_if_open and operation.result:
                return False
            operation.result = RESULTS[choice]
            operation.at = dt.datetime.now(PARIS) - dt.timedelta(minutes=minutes_ago)
            operation.numauto = uuid.uuid4().hex[:6].upper() if choice == "paid" else ""
            return True

    def override(self, idop: str, fields: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            operation = self.operation(idop)
            operation.overrides.update({k: str(v) for k, v in fields.items()})
            return operation.as_dict()

    def add_fault(self, rule: str, *, operation: str = "", **options: Any) -> dict[str, Any]:
        fault = make_fault(rule, path=operation, **options)
        with self.lock:
            self.faults.append(fault)
            return fault.as_dict()

    def take_fault(self, operation: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in ("", operation):
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def log(self, kind: str, entry: dict[str, Any], generation: int | None = None) -> None:
        with self.lock:
            if generation is None or generation == self.generation:
                getattr(self, kind).append(entry)
