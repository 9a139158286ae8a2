"""The JSON form of a segment's rule tree (``Segment.definition``).

A rule is a group or a condition.

Groups::

    {"all": [rule, ...]}     every rule holds (an empty list: every customer)
    {"any": [rule, ...]}     at least one rule holds (an empty list: no customer)
    {"not": rule}            the rule does not hold

A condition::

    {"field": "<catalogue key>", "op": "<operator>", "value": <value>, <parameters>}

Operators by value type:

* choice: ``eq``, ``ne`` (one value), ``in``, ``not_in`` (a list of values);
* number: ``eq``, ``ne``, ``gt``, ``gte``, ``lt``, ``lte`` (a number), ``between`` ([low, high],
  both included); amounts may be given as numeric strings ("5000.50");
* date: ``eq``, ``gt``, ``gte``, ``lt``, ``lte`` (ISO date "2024-01-31"), ``between``;
* text: ``eq``, ``ne``, ``contains`` (a string), ``in``, ``not_in`` (a list);
* bool: ``eq`` (true or false);
* unit: ``in``, ``not_in`` (a list of org unit codes; a unit includes the units below it);
* presence (``holdings.holds``, ``segment.member``): ``is`` (the default) or ``is_not``,
  no value.

Fields (``bankcrm.marketing.segments.catalogue.FIELD_CATALOGUE``):

* ``party.status`` (prospect, active, dormant, closed), ``party.segment`` (mass, affluent,
  private, sme, corporate), ``party.kind`` (person, organisation): choice;
* ``party.owning_unit``: unit codes, subtree;
* ``party.customer_since``: date;
* ``party.days_since_contact``: whole days since the last interaction; a customer never
  contacted counts as contacted infinitely long ago;
* ``party.do_not_contact``: bool;
* ``person.age``: this year minus the year of birth (only the year is kept in clear);
* ``person.gender`` (female, male, other, unknown), ``person.income_band`` (under_50k,
  50k_150k, 150k_500k, 500k_2m, over_2m): choice; ``person.nationality`` (two-letter code),
  ``person.occupation``: text. An organisation never matches a ``person.*`` condition,
  ``ne`` included;
* ``custom.<key>``: an active custom field on customers; its type gives the operators
  (whole/decimal number: number; date: date; yes/no: bool; choice: choice; several
  choices: ``in``/``not_in`` (holds any of the values); text: text);
* ``holdings.holds`` with ``"product": "<code>"`` or ``"category": "<category>"`` (exactly
  one): the customer holds, as owner or joint owner, an account of that product or category
  that is not closed;
* ``holdings.balance`` with optional ``product`` or ``category``: the sum of the balances of
  those accounts (without either: all non-closed accounts of products not owed to the bank),
  converted to the base currency at the latest rate (an account in a currency without a rate
  counts for nothing); a customer with no such account has 0;
* ``transactions.count`` / ``transactions.sum`` with ``within_days`` (required: the N days
  ending today) and optional filters ``kind`` (salary, card_payment, ...), ``direction``
  (credit, debit), ``channel`` (branch, atm, card, online, mobile, transfer, system, other):
  the number / signed sum (credits positive, debits negative, in the account's currency) of
  the matching transactions on accounts the customer holds as owner or joint owner; 0 when
  there is none;
* ``transactions.months_with`` with ``months`` (required) and the same filters: in how many
  of the last N complete calendar months (the current month excluded) at least one matching
  transaction was booked;
* ``interactions.count`` with ``within_days`` (required) and optional ``kind`` (call,
  meeting, email, branch_visit, chat, note) and ``channel``: contacts logged in the N days
  ending today; ``"op": "eq", "value": 0`` means "no such contact";
* ``score.probability`` with ``purpose`` (application, behaviour, propensity, churn,
  other): the probability of the customer's latest score (``risk.Score``, subject
  "party") from a non-shadow model of that purpose; with ``"purpose": "propensity"`` and
  ``"product": "<code>"``, the customer's propensity for that product
  (``marketing.PropensityScore``). A customer without a score never matches;
* ``score.points`` with ``purpose``: the points of that latest score;
* ``household.balance``: ``holdings.balance`` summed over every member of the customer's
  household (the customer's own when they are in none);
* ``segment.member`` with ``"segment": <id>``: a member of that segment (``is``) or not
  (``is_not``); a dynamic segment is evaluated inline with its rules (within its owning
  unit), a static one by its snapshot. A segment may not refer to itself, directly or
  through others.

Examples::

    {"all": [
        {"field": "party.status", "op": "eq", "value": "active"},
        {"field": "person.age", "op": "between", "value": [25, 55]},
        {"field": "transactions.months_with", "kind": "salary", "direction": "credit",
         "months": 3, "op": "gte", "value": 3},
        {"field": "transactions.sum", "kind": "card_payment", "within_days": 90,
         "op": "lte", "value": -5000},
        {"field": "transactions.count", "channel": "branch", "within_days": 180,
         "op": "eq", "value": 0},
        {"not": {"field": "holdings.holds", "category": "term_deposit"}}
    ]}

    {"any": [
        {"field": "household.balance", "op": "gte", "value": 500000},
        {"field": "score.probability", "purpose": "propensity", "product": "TD12",
         "op": "gte", "value": 0.4},
        {"field": "segment.member", "segment": 7, "op": "is_not"}
    ]}

Rule paths in error messages count from 1 inside each group: "rule 2.1" is the first rule of
the root group's second rule; "rule" alone is the root.
"""

GROUP_KEYS = ("all", "any", "not")
MAX_DEPTH = 8
MAX_CONDITIONS = 100
