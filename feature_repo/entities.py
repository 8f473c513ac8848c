"""The project and its entities: the keys features are looked up by.

Feast 0.67 gives an entity exactly one join key, so a compound key (BIN x merchant category,
issuer x merchant category, the gateway segment) is a feature view over several entities; the
entities below are its parts. Join keys are the dbt column names; every key is a string.
"""

from feast import Entity, Project, ValueType

PAYMENTS_OWNER = "payments-ml@payloom.example"
CUSTOMER_OWNER = "customer-ml@payloom.example"

# Same name as `project` in feature_store.yaml (feast apply uses this object's name).
payloom_project = Project(
    name="payloom",
    description="Payments features built by dbt (Parquet) and served for payloom's models.",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments"},
)

card = Entity(
    name="card",
    join_keys=["card_id"],
    value_type=ValueType.STRING,
    description="A payment card, by its token (never the PAN). A token still identifies a person: pii.",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "true"},
)

card_bin = Entity(
    name="card_bin",
    join_keys=["card_bin"],
    value_type=ValueType.STRING,
    description="First 6 digits of a card number: the issuer's product range, shared by many cards.",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "false"},
)

merchant_category = Entity(
    name="merchant_category",
    join_keys=["merchant_category"],
    value_type=ValueType.STRING,
    description="4-digit merchant category code (MCC) of the merchant an attempt was made at.",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "false"},
)

issuer = Entity(
    name="issuer",
    join_keys=["issuer_id"],
    value_type=ValueType.STRING,
    description="The bank that issued the card and approves or declines its attempts.",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "false"},
)

gateway = Entity(
    name="gateway",
    join_keys=["gateway"],
    value_type=ValueType.STRING,
    description="Payment gateway an attempt was routed to (part of the gateway segment).",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "false"},
)

card_network = Entity(
    name="card_network",
    join_keys=["card_network"],
    value_type=ValueType.STRING,
    description="Card network (scheme) of the card (part of the gateway segment).",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "false"},
)

issuer_country = Entity(
    name="issuer_country",
    join_keys=["issuer_country"],
    value_type=ValueType.STRING,
    description="ISO 3166 alpha-2 country of the issuer (part of the gateway segment).",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "false"},
)

transaction_type = Entity(
    name="transaction_type",
    join_keys=["transaction_type"],
    value_type=ValueType.STRING,
    description="one_off, recurring or subscription_renewal (part of the gateway segment).",
    owner=PAYMENTS_OWNER,
    tags={"domain": "payments", "pii": "false"},
)

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A customer of the bank: a person or a business. Identifies a person: pii.",
    owner=CUSTOMER_OWNER,
    tags={"domain": "customers", "pii": "true"},
)

holding_pattern = Entity(
    name="holding_pattern",
    join_keys=["holding_pattern"],
    value_type=ValueType.STRING,
    description=(
        "The set of products a customer holds, named by the held products in dbt var products order "
        "joined by '+' ('none' when nothing is held): the key of nearest-customer affinities."
    ),
    owner=CUSTOMER_OWNER,
    tags={"domain": "customers", "pii": "false"},
)

product = Entity(
    name="product",
    join_keys=["product"],
    value_type=ValueType.STRING,
    description="A product the bank offers (savings, checking, credit_card, ...): a cross-sell candidate.",
    owner=CUSTOMER_OWNER,
    tags={"domain": "customers", "pii": "false"},
)
