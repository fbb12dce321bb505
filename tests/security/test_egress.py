import pytest

from sidecar.domain.errors import ElasticsearchError
from sidecar.http.client import ConnectError, HttpClient
from sidecar.security.egress import EgressPolicy, EgressResolver
from sidecar.settings import Settings

POLICY = EgressPolicy(Settings().egress_deny_networks)


class FixedResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int) -> list[str]:
        return self.answers[host]


@pytest.mark.parametrize("address", ["169.254.169.254", "fe80::1", "fd00:ec2::254", "100.100.100.200"])
def test_metadata_and_link_local_addresses_are_refused(address: str) -> None:
    assert not POLICY.allows(address)
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ElasticsearchError) as exc:
        POLICY.check_url(f"http://{host}/v1/embeddings")
    assert exc.value.reason == f"The url host [{address}] is not allowed by the sidecar's egress policy"


def test_ordinary_addresses_and_host_names_pass_the_url_check() -> None:
    assert POLICY.allows("127.0.0.1") and POLICY.allows("8.8.8.8")
    POLICY.check_url("https://api.openai.com/v1/embeddings")


async def test_resolver_drops_denied_addresses_and_refuses_when_none_is_left() -> None:
    resolver = EgressResolver(
        POLICY, FixedResolver({"mixed.test": ["169.254.169.254", "127.0.0.1"], "metadata.test": ["169.254.169.254"]})
    )
    assert await resolver.resolve("mixed.test", 80) == ["127.0.0.1"]
    with pytest.raises(OSError, match=r"the host \[metadata.test\] resolves only to addresses"):
        await resolver.resolve("metadata.test", 80)


async def test_a_client_with_the_resolver_cannot_reach_a_denied_host() -> None:
    client = HttpClient(resolver=EgressResolver(POLICY, FixedResolver({"metadata.test": ["169.254.169.254"]})))
    with pytest.raises(ConnectError) as caught:
        await client.post("http://metadata.test/latest/meta-data", b"{}", {})
    assert str(caught.value) == (
        "Cannot connect to host metadata.test:80 "
        "[the host [metadata.test] resolves only to addresses the sidecar's egress policy refuses]"
    )
    assert client.open_connections == 0
    await client.close()
