"""The entities the fake's queries select from: a default sample catalog, or the user's."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_CATALOG", "Entity", "load_catalog", "to_catalog"]


@dataclass(frozen=True)
class Entity:
    """One catalog entity, as a `QueryResult` in the spec: name, tag, type, optional description."""

    name: str
    tag: str
    type: str
    description: str | None = None

    def __post_init__(self) -> None:
        for field in ("name", "tag", "type"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise ValueError(f"Entity.{field} must be a non-empty str, got {value!r}")
        if self.description is not None and not isinstance(self.description, str):
            raise ValueError(f"Entity.description must be a str or None, got {self.description!r}")

    def to_json(self) -> dict[str, str]:
        """The entity as the API sends it (a `QueryResult` object)."""
        body = {"name": self.name, "tag": self.tag, "type": self.type}
        if self.description is not None:
            body["description"] = self.description
        return body

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entity:
        """An entity from a mapping with the keys name, tag, type and (optional) description."""
        unknown = set(data) - {"name", "tag", "type", "description"}
        if unknown:
            raise ValueError(f"unknown entity field(s) {sorted(unknown)} in {dict(data)!r}")
        missing = {"name", "tag", "type"} - set(data)
        if missing:
            raise ValueError(f"entity {dict(data)!r} lacks {sorted(missing)}")
        return cls(
            name=data["name"],
            tag=data["tag"],
            type=data["type"],
            description=data.get("description"),
        )


def to_catalog(entities: Iterable[Entity | Mapping[str, Any]]) -> tuple[Entity, ...]:
    """A catalog from entities or mappings; tags must be unique, as they are in Cortex."""
    catalog = tuple(e if isinstance(e, Entity) else Entity.from_json(e) for e in entities)
    seen: set[str] = set()
    for entity in catalog:
        if entity.tag in seen:
            raise ValueError(f"two entities share the tag {entity.tag!r}; tags must be unique")
        seen.add(entity.tag)
    return catalog


def load_catalog(path: str | PathLike[str]) -> tuple[Entity, ...]:
    """A catalog from a JSON file holding a list of entity objects."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: a catalog file holds a JSON list of entities")
    return to_catalog(data)


def _e(name: str, tag: str, type_: str, description: str) -> Entity:
    return Entity(name=name, tag=tag, type=type_, description=description)


# A small organisation: services owned by a few domains, the data stores and queues they use, and
# the teams that own them. Plausible enough for a demo, small enough to read in a test failure.
DEFAULT_CATALOG: tuple[Entity, ...] = (
    # domains
    _e("Payments", "payments", "domain", "Everything that moves money: checkout to settlement."),
    _e("Identity", "identity", "domain", "Accounts, sign-in, sessions and permissions."),
    _e("Catalog", "catalog", "domain", "Products, prices and search."),
    _e("Fulfilment", "fulfilment", "domain", "Orders after checkout: stock, shipping, returns."),
    _e("Platform", "platform", "domain", "Shared infrastructure every team builds on."),
    # services
    _e("Payments API", "payments-api", "service", "Public API to create and capture payments."),
    _e("Payments Ledger", "payments-ledger", "service", "Double-entry ledger of every payment."),
    _e("Refunds Service", "refunds-service", "service", "Issues and tracks refunds."),
    _e("Fraud Scoring", "fraud-scoring", "service", "Scores each payment for fraud risk."),
    _e("Checkout Web", "checkout-web", "service", "The checkout pages of the storefront."),
    _e("Auth Service", "auth-service", "service", "OAuth2 and OpenID Connect provider."),
    _e("User Profile", "user-profile", "service", "Profiles, preferences and contact details."),
    _e("Session Store API", "session-store-api", "service", "Creates and validates sessions."),
    _e("Product Search", "product-search", "service", "Full-text and faceted product search."),
    _e("Pricing Engine", "pricing-engine", "service", "Computes prices, discounts and taxes."),
    _e("Inventory", "inventory", "service", "Stock levels per warehouse."),
    _e("Order Service", "order-service", "service", "Order lifecycle from checkout to delivery."),
    _e("Shipping Gateway", "shipping-gateway", "service", "Talks to the carriers' APIs."),
    _e("Notifications", "notifications", "service", "Email, SMS and push notifications."),
    _e("API Gateway", "api-gateway", "service", "Edge routing, authentication and rate limits."),
    _e("Feature Flags", "feature-flags", "service", "Runtime feature switches for every service."),
    # resources
    _e("Payments DB", "payments-db", "database", "PostgreSQL cluster of the payments domain."),
    _e("Users DB", "users-db", "database", "PostgreSQL cluster of accounts and profiles."),
    _e("Orders DB", "orders-db", "database", "PostgreSQL cluster of orders and shipments."),
    _e("Search Index", "search-index", "database", "OpenSearch index of the product catalog."),
    _e("Session Cache", "session-cache", "cache", "Redis cluster holding live sessions."),
    _e("Pricing Cache", "pricing-cache", "cache", "Redis cache of computed prices."),
    _e("Payment Events", "payment-events", "queue", "Kafka topic of payment state changes."),
    _e("Order Events", "order-events", "queue", "Kafka topic of order state changes."),
    _e("Email Queue", "email-queue", "queue", "SQS queue feeding the email sender."),
    _e("Invoices Bucket", "invoices-bucket", "bucket", "S3 bucket of generated invoice PDFs."),
    _e("Product Images", "product-images", "bucket", "S3 bucket of product photos."),
    # teams
    _e("Payments Team", "team-payments", "team", "Owns the payments domain."),
    _e("Identity Team", "team-identity", "team", "Owns sign-in, sessions and profiles."),
    _e("Storefront Team", "team-storefront", "team", "Owns catalog, search and checkout pages."),
    _e("Platform Team", "team-platform", "team", "Owns the gateway, flags and shared stores."),
)
