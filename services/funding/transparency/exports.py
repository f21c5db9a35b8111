"""The fund's activities in open-data formats, as pure functions of `FundFacts`: IATI activity
XML (standard 2.03) and a 360Giving-style CSV. Both are public documents: the `Privacy` rules
apply to everyone who downloads them.

IATI layout: the fund is a pooled fund, so the file has one parent activity for the fund
(hierarchy 1) and one child activity per agreement it funds (hierarchy 2), linked both ways by
related-activity. Money enters at the parent: each pledge is an Incoming Commitment (11; a
cancellation is a negative one) and each receipt Incoming Funds (1, in the fund's currency as
converted at receipt). Money leaves from the children, which carry the recipient country and
the domains (as sectors of the programme's own vocabulary, 99): each award is an Outgoing
Commitment (2) to the applicant city, each tranche paid a Disbursement (3). No transaction is
reported twice, as IATI asks of hierarchies.

360Giving: one row per award (an application approved, with its tranches), with the
standard's column titles; recipients are the applicant cities."""

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from services.funding.domain import DonorKind, FundStatus
from services.funding.grants.domain import TrancheStatus
from services.funding.grants.models import Application, KnownAgreement
from services.funding.models import Pledge
from services.funding.transparency.facts import WITHHELD, FundFacts, Privacy
from services.funding.transparency.reports import split_evenly
from shared import money

IATI_VERSION = "2.03"
# The programme's organisation identifier until it registers one with IATI (XI-IATI agency).
ORGANISATION_REF = "XI-IATI-CITYEXCHANGE"
GIVING_PREFIX = "360G-cityexchange"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# IATI codelists: TransactionType, OrganisationRole, OrganisationType, ActivityStatus,
# ActivityDateType, RelatedActivityType, SectorVocabulary.
INCOMING_COMMITMENT, INCOMING_FUNDS, OUTGOING_COMMITMENT, DISBURSEMENT = "11", "1", "2", "3"
FUNDING, ACCOUNTABLE, IMPLEMENTING = "1", "2", "4"
ACTUAL_START = "2"
PARENT, CHILD = "1", "2"
OWN_VOCABULARY = "99"
ORGANISATION_TYPES = {
    DonorKind.CITY: "11",  # local government
    DonorKind.GOVERNMENT: "10",
    DonorKind.COMPANY: "70",
    DonorKind.FOUNDATION: "60",
    DonorKind.INDIVIDUAL: "90",
    DonorKind.NETWORK: "90",
    DonorKind.MULTILATERAL: "40",
    DonorKind.SUPRANATIONAL: "40",
    DonorKind.LOCAL_INSTITUTION: "15",  # other public sector
    DonorKind.COMMUNITY: "90",
}
LOCAL_GOVERNMENT, OTHER = "11", "90"
ACTIVITY_STATUS = {
    "suspended": "6",
    "concluded": "4",
    "terminated": "5",
    "withdrawn": "5",
    "expired": "4",
}
IMPLEMENTATION, FINALISATION = "2", "3"
WITHHELD_TITLE = "City-to-city partnership (details withheld: a party is in a conflict zone)"


def fund_activity_id(facts: FundFacts) -> str:
    return f"{ORGANISATION_REF}-{facts.fund.id}"


def agreement_activity_id(facts: FundFacts, agreement_id: uuid.UUID) -> str:
    return f"{fund_activity_id(facts)}-{agreement_id}"


def _amount(minor: int, currency: str) -> str:
    return str(money.from_minor_units(minor, currency))


def _sub(
    parent: etree._Element, tag: str, text: str | None = None, **attributes: str
) -> etree._Element:
    element = etree.SubElement(parent, tag, {k.replace("_", "-"): v for k, v in attributes.items()})
    if text is not None:
        etree.SubElement(element, "narrative").text = text
    return element


def _transaction(
    activity: etree._Element,
    kind: str,
    on: date,
    value: str,
    *,
    currency: str | None = None,
    description: str | None = None,
    provider: tuple[str, str] | None = None,
    receiver: tuple[str, str] | None = None,
) -> None:
    """One transaction, its children in the order the schema requires; organisations are
    (name, IATI organisation type)."""
    transaction = _sub(activity, "transaction")
    _sub(transaction, "transaction-type", code=kind)
    _sub(transaction, "transaction-date", iso_date=on.isoformat())
    attributes = {"value-date": on.isoformat()} | ({"currency": currency} if currency else {})
    etree.SubElement(transaction, "value", attributes).text = value
    if description:
        _sub(transaction, "description", description)
    if provider:
        _sub(transaction, "provider-org", provider[0], type=provider[1])
    if receiver:
        _sub(transaction, "receiver-org", receiver[0], type=receiver[1])


def _activity(
    facts: FundFacts, identifier: str, hierarchy: str, updated: datetime
) -> etree._Element:
    activity = etree.Element(
        "iati-activity",
        {
            "last-updated-datetime": updated.isoformat(timespec="seconds"),
            XML_LANG: "en",
            "default-currency": facts.fund.currency,
            "hierarchy": hierarchy,
        },
    )
    etree.SubElement(activity, "iati-identifier").text = identifier
    _sub(activity, "reporting-org", "city-exchange", ref=ORGANISATION_REF, type=OTHER)
    return activity


def _donor(pledge: Pledge) -> tuple[str, str]:
    return Privacy.donor_name(pledge), ORGANISATION_TYPES[pledge.donor_kind]


def _fund_activity(facts: FundFacts, updated: datetime) -> etree._Element:
    fund = facts.fund
    activity = _activity(facts, fund_activity_id(facts), "1", updated)
    _sub(activity, "title", fund.name)
    _sub(activity, "description", fund.purpose or f"{fund.name}: a city-to-city solidarity fund")
    _sub(activity, "participating-org", fund.name, role=ACCOUNTABLE, type=OTHER)
    for name, kind in sorted({_donor(p) for p in facts.pledges}):
        _sub(activity, "participating-org", name, role=FUNDING, type=kind)
    status = FINALISATION if fund.status is FundStatus.CLOSED else IMPLEMENTATION
    _sub(activity, "activity-status", code=status)
    _sub(activity, "activity-date", type=ACTUAL_START, iso_date=fund.created_at.date().isoformat())
    for pledge in facts.pledges:
        _transaction(
            activity,
            INCOMING_COMMITMENT,
            pledge.pledged_at.date(),
            _amount(pledge.amount_minor, pledge.currency),
            currency=pledge.currency,
            description="pledge",
            provider=_donor(pledge),
        )
        if pledge.cancelled_minor and pledge.cancelled_at:
            _transaction(
                activity,
                INCOMING_COMMITMENT,
                pledge.cancelled_at.date(),
                _amount(-pledge.cancelled_minor, pledge.currency),
                currency=pledge.currency,
                description="the part of the pledge that will not be received",
                provider=_donor(pledge),
            )
    for receipt in facts.receipts:
        _transaction(
            activity,
            INCOMING_FUNDS,
            receipt.received_on,
            _amount(receipt.converted_minor, facts.fund.currency),
            description="contribution received (converted at the rate recorded at receipt)",
            provider=_donor(facts.pledge(receipt.pledge_id)),
        )
    for agreement_id in _agreements(facts):
        _sub(
            activity, "related-activity", ref=agreement_activity_id(facts, agreement_id), type=CHILD
        )
    return activity


def _agreements(facts: FundFacts) -> list[uuid.UUID]:
    return sorted({a.agreement_id for a in facts.applications}, key=str)


def _recipient(privacy: Privacy, application: Application) -> tuple[str, str]:
    return privacy.recipient_name(application), LOCAL_GOVERNMENT


def _agreement_activity(
    facts: FundFacts, agreement_id: uuid.UUID, updated: datetime
) -> etree._Element:
    privacy = facts.privacy()
    withheld = privacy.withheld(agreement_id)
    awards = [a for a in facts.applications if a.agreement_id == agreement_id]
    agreement = facts.agreements.get(agreement_id)
    activity = _activity(facts, agreement_activity_id(facts, agreement_id), "2", updated)
    _sub(activity, "title", WITHHELD_TITLE if withheld else privacy.agreement_title(agreement_id))
    domains = sorted(agreement.domains) if agreement else []
    description = (
        WITHHELD_TITLE
        if withheld
        else "; ".join(a.title for a in awards) + (f" ({', '.join(domains)})" if domains else "")
    )
    _sub(activity, "description", description)
    _sub(activity, "participating-org", facts.fund.name, role=FUNDING, type=OTHER)
    for city_id in agreement.party_city_ids if agreement and not withheld else []:
        _sub(
            activity,
            "participating-org",
            privacy.city_name(city_id),
            role=IMPLEMENTING,
            type=LOCAL_GOVERNMENT,
        )
    _sub(
        activity,
        "activity-status",
        code=ACTIVITY_STATUS.get(agreement.status if agreement else "", IMPLEMENTATION),
    )
    started = min((a.decided_at or a.submitted_at for a in awards), default=facts.fund.created_at)
    _sub(activity, "activity-date", type=ACTUAL_START, iso_date=started.date().isoformat())
    countries = sorted({c for a in awards if (c := privacy.country(a.applicant_city_id))})
    for code, share in zip(countries, _percentages(len(countries)), strict=True):
        _sub(activity, "recipient-country", code=code, percentage=share)
    for code, share in zip(domains, _percentages(len(domains)), strict=True):
        _sub(activity, "sector", vocabulary=OWN_VOCABULARY, code=code, percentage=share)
    for award in awards:
        recipient = _recipient(privacy, award)
        awarded = facts.awarded_minor(award.id)
        if awarded:
            _transaction(
                activity,
                OUTGOING_COMMITMENT,
                (award.decided_at or award.submitted_at).date(),
                _amount(awarded, award.currency),
                description="grant awarded",
                receiver=recipient,
            )
        for tranche in facts.tranches_of(award.id):
            if tranche.status is TrancheStatus.DISBURSED and tranche.disbursed_at:
                _transaction(
                    activity,
                    DISBURSEMENT,
                    tranche.disbursed_at.date(),
                    _amount(tranche.amount_minor, tranche.currency),
                    description=None
                    if withheld
                    else f"tranche {tranche.position}: {tranche.title}",
                    receiver=recipient,
                )
    _sub(activity, "related-activity", ref=fund_activity_id(facts), type=PARENT)
    return activity


def _percentages(parts: int) -> list[str]:
    """100 in `parts` shares with two decimals, adding up to exactly 100."""
    return [str(Decimal(share) / 100) for share in split_evenly(10_000, parts)] if parts else []


def iati_activities(facts: FundFacts, generated: datetime) -> bytes:
    """The fund's IATI activity file (UTF-8 XML)."""
    root = etree.Element(
        "iati-activities",
        {"version": IATI_VERSION, "generated-datetime": generated.isoformat(timespec="seconds")},
    )
    root.append(_fund_activity(facts, generated))
    for agreement_id in _agreements(facts):
        root.append(_agreement_activity(facts, agreement_id, generated))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# --- 360Giving -----------------------------------------------------------------------------------

GIVING_COLUMNS = [
    "Identifier",
    "Title",
    "Description",
    "Currency",
    "Amount Awarded",
    "Amount Disbursed",
    "Award Date",
    "Recipient Org:Identifier",
    "Recipient Org:Name",
    "Recipient Org:Country Code",
    "Beneficiary Location:Country Code",
    "Funding Org:Identifier",
    "Funding Org:Name",
    "Grant Programme:Title",
    "Last Modified",
]


def _giving_rows(facts: FundFacts, generated: datetime) -> Iterator[dict[str, str]]:
    privacy = facts.privacy()
    fund = facts.fund
    for award in facts.applications:
        withheld = privacy.withheld(award.agreement_id)
        agreement = facts.agreements.get(award.agreement_id)
        domains = ", ".join(sorted(agreement.domains)) if agreement else ""
        country = privacy.country(award.applicant_city_id) or ""
        recipient = privacy.recipient_name(award)
        yield {
            "Identifier": f"{GIVING_PREFIX}-{award.id}",
            "Title": WITHHELD_TITLE if withheld else award.title,
            "Description": WITHHELD_TITLE if withheld else _described(agreement, domains),
            "Currency": award.currency,
            "Amount Awarded": _amount(facts.awarded_minor(award.id), award.currency),
            "Amount Disbursed": _amount(facts.disbursed_minor(award.id), award.currency),
            "Award Date": (award.decided_at or award.submitted_at).date().isoformat(),
            "Recipient Org:Identifier": f"{GIVING_PREFIX}-city-"
            + (f"{WITHHELD}-{award.id}" if recipient == WITHHELD else str(award.applicant_city_id)),
            "Recipient Org:Name": recipient,
            "Recipient Org:Country Code": country,
            "Beneficiary Location:Country Code": country,
            "Funding Org:Identifier": f"{GIVING_PREFIX}-fund-{fund.id}",
            "Funding Org:Name": fund.name,
            "Grant Programme:Title": fund.name,
            "Last Modified": generated.isoformat(timespec="seconds"),
        }


def _described(agreement: KnownAgreement | None, domains: str) -> str:
    title = agreement.title if agreement else "a city-to-city partnership"
    return f"{title} ({domains})" if domains else title


def giving_csv(facts: FundFacts, generated: datetime) -> str:
    """The fund's awards as a 360Giving-style CSV, one row per award."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=GIVING_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(_giving_rows(facts, generated))
    return out.getvalue()
