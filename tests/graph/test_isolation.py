"""GraphQL isolation sweep, generated from the schema: company A's technician gets nothing of company B
through any root list, nested relation, ``node(id:)`` or mutation.

A capability that adds types or mutations is swept automatically; a tenant-owned model without a row
maker in tests/isolation_registry.py fails the registry test.
"""

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, Undefined, get_named_type

from graph.schema import schema
from portal.access import TenantOwned
from portal.audit.models import AuditEvent
from tests.graphql_client import global_id, pk_of
from tests.isolation_registry import TENANT_ROW_MAKERS

pytestmark = pytest.mark.django_db
GRAPHQL = schema._schema


def _model_types() -> dict[str, type]:
    """GraphQL type name → Django model, for every strawberry-django type of a tenant-owned model."""
    found = {}
    for definition in schema.schema_converter.type_map.values():
        origin = getattr(definition.definition, "origin", None)
        django_definition = getattr(origin, "__strawberry_django_definition__", None)
        name = definition.definition.name
        if (django_definition is not None and issubclass(django_definition.model, TenantOwned)
                and isinstance(GRAPHQL.get_type(name), GraphQLObjectType)):
            found[name] = django_definition.model
    return found


MODEL_TYPES = _model_types()


def _connection_node_type(field_type) -> str | None:
    named = get_named_type(field_type)
    if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection") and "edges" in named.fields:
        return get_named_type(get_named_type(named.fields["edges"].type).fields["node"].type).name
    return None


def _related_fields(type_name: str):
    """(field name, related type name, is connection) for each field of a type that leads to another model."""
    for name, field in GRAPHQL.get_type(type_name).fields.items():
        node_type = _connection_node_type(field.type)
        if node_type in MODEL_TYPES:
            yield name, node_type, True
        elif get_named_type(field.type).name in MODEL_TYPES:
            yield name, get_named_type(field.type).name, False


@pytest.fixture
def two_tenants(tenant_a, tenant_b):
    rows = {"A": {}, "B": {}}
    for type_name, model in MODEL_TYPES.items():
        rows["A"][type_name] = TENANT_ROW_MAKERS[model](tenant_a.company)
        rows["B"][type_name] = TENANT_ROW_MAKERS[model](tenant_b.company)
    return rows


def _ids_in(value, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" and isinstance(item, str):
                found.add(item)
            else:
                _ids_in(item, found)
    elif isinstance(value, list):
        for item in value:
            _ids_in(item, found)
    return found


def _foreign_ids(tenant_b, result) -> set[str]:
    """Ids in a response that belong to company B."""
    leaked = set()
    for gid in _ids_in(result, set()):
        type_name, pk = __import__("base64").b64decode(gid).decode().split(":", 1)
        model = MODEL_TYPES.get(type_name)
        if model is not None:
            row = model._default_manager.filter(pk=pk).first()
            if row is not None and row.owning_company_id == tenant_b.company.pk:
                leaked.add(gid)
    return leaked


def _selection(type_name: str) -> str:
    """``id`` plus every related field one level down, so nested relations are swept too."""
    parts = ["id"]
    for name, _related, is_connection in _related_fields(type_name):
        parts.append(f"{name} {{ edges {{ node {{ id }} }} }}" if is_connection else f"{name} {{ id }}")
    return " ".join(parts)


ROOT_LISTS = [(name, _connection_node_type(field.type)) for name, field in GRAPHQL.query_type.fields.items()
              if _connection_node_type(field.type) in MODEL_TYPES]


def test_sweep_covers_every_tenant_owned_type():
    assert set(MODEL_TYPES) >= {"Company", "Site", "Group", "Contact", "Device", "AuditEvent"}
    root_types = {node for _, node in ROOT_LISTS}
    nested_types = {related for root in root_types for _, related, _ in _related_fields(root)}
    assert set(MODEL_TYPES) <= root_types | nested_types  # every type is reached by some swept query
    for model in MODEL_TYPES.values():
        assert model in TENANT_ROW_MAKERS


NODE_TYPES = sorted(name for name in MODEL_TYPES
                    if any(i.name == "Node" for i in GRAPHQL.get_type(name).interfaces))


@pytest.mark.parametrize(("field", "node_type"), ROOT_LISTS, ids=[name for name, _ in ROOT_LISTS])
def test_root_lists_and_their_relations_show_nothing_of_b(field, node_type, two_tenants, tenant_b, gql_as,
                                                          admin_a):
    selection = _selection(node_type)
    result = gql_as(admin_a)(f"{{ {field}(first: 20) {{ totalCount edges {{ node {{ {selection} }} }} }} }}")
    assert "errors" not in result, result
    assert result["data"][field]["totalCount"] >= 1
    assert _foreign_ids(tenant_b, result) == set()


@pytest.mark.parametrize("type_name", NODE_TYPES)
def test_node_lookup_of_a_b_object_is_null(type_name, two_tenants, gql_as, admin_a):
    gql = gql_as(admin_a)
    own = two_tenants["A"][type_name]
    other = two_tenants["B"][type_name]
    query = f"query ($id: ID!) {{ node(id: $id) {{ id ... on {type_name} {{ {_selection(type_name)} }} }} }}"
    assert gql(query, {"id": global_id(type_name, own.pk)})["data"]["node"] is not None
    result = gql(query, {"id": global_id(type_name, other.pk)})
    assert result["data"]["node"] is None


def _id_fields_of_input(input_type) -> dict[str, str]:
    """Input field → the GraphQL type its ID must name (``id`` is the mutation's own type)."""
    fields = {}
    for name, field in input_type.fields.items():
        if get_named_type(field.type).name == "ID":
            fields[name] = name[0].upper() + name[1:]
    return fields


def _mutations_with_ids():
    for name, field in GRAPHQL.mutation_type.fields.items():
        if "input" not in field.args:
            continue
        input_type = get_named_type(field.args["input"].type)
        own_type = name
        for verb in ("create", "update", "delete", "revoke", "cancel", "poll", "check", "acknowledge"):
            own_type = own_type.removeprefix(verb)
        for input_field, type_name in _id_fields_of_input(input_type).items():
            target = own_type if input_field == "id" else type_name
            if target in MODEL_TYPES:
                yield name, input_type, input_field, target, own_type


MUTATIONS = list(_mutations_with_ids())


# The MSP's shared library: the same rows for every signed-in user (tested in tests/graph/test_actions_graphql.py).
SHARED_LIBRARY_TYPES = ("Script", "SoftwareItem", "DeploymentProfile", "ProfileTask", "Tag", "CustomField")


def test_every_mutation_that_takes_a_tenant_id_is_swept():
    swept = {name for name, *_ in MUTATIONS}
    for name in GRAPHQL.mutation_type.fields:
        if name.startswith(("update", "delete", "cancel")) and not name.endswith(("ApiToken", *SHARED_LIBRARY_TYPES)):
            assert name in swept, name


SAMPLE_VALUES = {"DateTime": "2030-01-01T00:00:00+00:00", "Time": "02:00:00", "Int": 1, "Float": 1.0, "Boolean": True}


def _required_filler(input_type, skip: str, id_values: dict[str, str]) -> dict:
    values = {}
    for name, field in input_type.fields.items():
        if name == skip:
            continue
        has_default = field.default_value is not Undefined
        if isinstance(field.type, GraphQLNonNull) and not isinstance(field.type.of_type, GraphQLList) \
                and not has_default:
            scalar = get_named_type(field.type).name
            values[name] = id_values.get(name, SAMPLE_VALUES.get(scalar, "sweep"))
    return values


@pytest.mark.parametrize(("mutation", "input_type", "input_field", "target", "own_type"), MUTATIONS,
                         ids=[f"{m}.{f}" for m, _, f, _, _ in MUTATIONS])
def test_mutations_treat_b_ids_as_missing(mutation, input_type, input_field, target, own_type, two_tenants,
                                          gql_as, admin_a):
    targets = {name: (own_type if name == "id" else type_name)
               for name, type_name in _id_fields_of_input(input_type).items()}
    own_ids = {name: global_id(type_name, two_tenants["A"][type_name].pk)
               for name, type_name in targets.items() if type_name in MODEL_TYPES}
    other = two_tenants["B"][target]
    data = {**_required_filler(input_type, input_field, own_ids), input_field: global_id(target, other.pk)}
    gql = gql_as(admin_a)
    audit_before = AuditEvent.objects.exclude(actor_label="test").count()
    result = gql(
        f"mutation ($input: {input_type.name}!) {{ {mutation}(input: $input) {{ errors {{ field code }} }} }}",
        {"input": data})
    assert result["data"][mutation]["errors"] == [{"field": input_field, "code": "not_found"}], result
    assert AuditEvent.objects.exclude(actor_label="test").count() == audit_before
    assert type(other)._default_manager.filter(pk=other.pk).exists()


def test_users_are_listed_to_the_admins_who_manage_them(gql_as, admin_user, admin_a, operator_a, tenant_b):
    from tests.factories import UserFactory

    UserFactory(username="bravo-user", companies=[tenant_b.company])
    everyone = gql_as(admin_user)("{ users { totalCount } }")["data"]["users"]["totalCount"]
    assert everyone == 4
    mine = gql_as(admin_a)("{ users { edges { node { username } } } }")["data"]["users"]["edges"]
    assert [e["node"]["username"] for e in mine] == ["admin-a", "operator-a"]  # Alpha's only, not Bravo's
    own = gql_as(operator_a)("{ users { edges { node { username } } } }")["data"]["users"]["edges"]
    assert [e["node"]["username"] for e in own] == ["operator-a"]


def test_user_companies_show_only_visible_ones(gql_as, admin_user, tenant_a, tenant_b, actor_of):
    from tests.factories import UserFactory

    UserFactory(username="both", companies=[tenant_a.company, tenant_b.company])
    both_id = None
    result = gql_as(admin_user)('{ users { edges { node { id username companies { name } } } } }')
    for edge in result["data"]["users"]["edges"]:
        if edge["node"]["username"] == "both":
            both_id = edge["node"]["id"]
            assert {c["name"] for c in edge["node"]["companies"]} == {"Alpha Corp", "Bravo Corp"}
    assert pk_of(both_id)
